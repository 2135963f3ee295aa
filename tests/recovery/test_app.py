"""The served engine: health, and an event signed with the SDK's helper flowing end to end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import update

from models import InboxStatus, WebhookEvent
from recovery.app import create_app
from tests.conftest import WEBHOOK_SECRET
from tests.webhooks import payloads as p
from tests.webhooks.signing import signed_request
from webhooks.inbox import entry_from_payload, store_event

# Generous ceilings, not expectations: on a loaded machine (or a clean clone, with nothing
# compiled yet) importing and starting the app alone can take most of a minute.
STARTUP_SECONDS = 180
SANDBOX_RECOVERY_SECONDS = 180


def paid_event(event_id: str) -> dict:
    return {"id": event_id, "object": "event", "type": "invoice.paid", "created": 1793973600,
            "api_version": "2026-10-28.endive", "livemode": False,
            "data": {"object": {"id": "in_1", "object": "invoice", "customer": "cus_1",
                                "amount_paid": 900, "currency": "usd", "status": "paid"}}}


def test_healthz_reports_ok_then_503_when_the_inbox_falls_behind(services):
    with TestClient(create_app(services, run_worker=False)) as client:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["database"] == "ok"
        with services.sessions() as session:
            entry = entry_from_payload(paid_event("evt_old"))
            store_event(session, "acct_default", entry, services.clock.now())
            session.commit()
        limit = services.settings.healthz_max_pending_age_seconds
        services.clock.advance(timedelta(seconds=limit + 1))
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["status"] == "degraded"


def test_healthz_reports_failed_events_and_thin_events_waiting(services):
    with TestClient(create_app(services, run_worker=False)) as client:
        with services.sessions() as session:
            for payload in (p.thin_event(created=services.clock.now()), paid_event("evt_bad")):
                store_event(session, "acct_default", entry_from_payload(payload),
                            services.clock.now())
            session.execute(update(WebhookEvent).where(WebhookEvent.stripe_event_id == "evt_bad")
                            .values(status=InboxStatus.failed.value))
            session.commit()
        response = client.get("/healthz")
        body = response.json()
        assert response.status_code == 200
        assert (body["failed_events"], body["thin_events_waiting"]) == (1, 1)

        # A thin event nobody fetches is the inbox falling behind too.
        limit = services.settings.healthz_max_pending_age_seconds
        services.clock.advance(timedelta(seconds=limit + 1))
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["oldest_thin_event_age_seconds"] == limit + 1


def test_healthz_is_503_when_the_database_is_unreachable(clock):
    from recovery.runtime.settings import Settings
    from recovery.wiring import build_services

    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none", run_worker=False)
    app = create_app(build_services(settings, clock), run_worker=False)
    client = TestClient(app)  # no lifespan: it would need the database
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_engine_stores_and_processes_a_signed_event(tmp_path):
    port = free_port()
    env = {**os.environ, "RECOVERY_DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
           "RECOVERY_OUTBOX_DIR": str(tmp_path / "outbox"),
           "RECOVERY_PORT": str(port), "RECOVERY_STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
           "RECOVERY_TICK_SECONDS": "0.2", "RECOVERY_STRIPE_API_KEY": "sk_test_served",
           # This test is about storing and processing, not priorities: a worker at the lowest
           # priority gets no CPU for seconds while the rest of the suite saturates the cores.
           "RECOVERY_WORKER_NICENESS": "0"}
    cli = [sys.executable, "-m", "recovery"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/healthz").status_code == 200, STARTUP_SECONDS)
        body, headers = signed_request(paid_event("evt_served"), WEBHOOK_SECRET, datetime.now(UTC))
        first = httpx.post(f"{base}/webhooks/stripe", content=body, headers=headers)
        again = httpx.post(f"{base}/webhooks/stripe", content=body, headers=headers)
        assert first.status_code == 200 and again.json()["duplicate"] is True
        wait_until(lambda: httpx.get(f"{base}/healthz").json()["inbox"] == {"processed": 1})
    finally:
        stop(server)


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_with_no_stripe_key_the_engine_runs_against_the_live_sandbox(tmp_path):
    """``make run`` offline: simulated customers fail, the engine retries, cases recover; at
    0.3 s per simulated day every webhook is accepted and /healthz stays ok."""
    import sqlite3

    port = free_port()
    database = tmp_path / "sandbox.db"
    env = {**os.environ, "RECOVERY_DATABASE_URL": f"sqlite:///{database}",
           "RECOVERY_OUTBOX_DIR": str(tmp_path / "outbox"),
           "RECOVERY_PORT": str(port), "RECOVERY_SANDBOX_SECONDS_PER_DAY": "0.3",
           "RECOVERY_SANDBOX_SUBSCRIBERS": "100", "RECOVERY_TICK_SECONDS": "0.1",
           "RECOVERY_STRIPE_API_KEY": "", "RECOVERY_STRIPE_WEBHOOK_SECRETS": ""}
    cli = [sys.executable, "-m", "recovery"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
    log_path = tmp_path / "server.log"
    # A file, not a pipe: an unread pipe fills up and stalls the server's logging.
    with log_path.open("w") as log_file:
        server = subprocess.Popen([*cli, "serve"], env=env, stdout=log_file,
                                  stderr=subprocess.STDOUT)

    def recovered() -> int:
        try:
            with sqlite3.connect(database) as connection:
                return connection.execute(
                    "SELECT count(*) FROM recovery_case WHERE status = 'recovered'").fetchone()[0]
        except sqlite3.Error:
            return 0

    health = f"http://127.0.0.1:{port}/healthz"
    try:
        wait_until(lambda: httpx.get(health).json()["sandbox"], STARTUP_SECONDS)
        wait_until(lambda: recovered() > 0, SANDBOX_RECOVERY_SECONDS)
        response = httpx.get(health, timeout=30)
    finally:
        stop(server)
    assert "SANDBOX MODE" in log_path.read_text()
    assert response.status_code == 200 and response.json()["status"] == "ok", response.json()
    webhooks = response.json()["webhooks"]
    assert webhooks.get("accepted", 0) > 0
    assert not [outcome for outcome in webhooks if outcome.startswith("rejected")], webhooks
