"""The live sandbox (``make run`` with no Stripe key) keeps its promises at any speed: the fake
Stripe signs with the receiver's secret and in real time, and a fast simulated clock is not
mistaken for the inbox falling behind.

The sandbox runs in-process here: its clock is driven by a virtual wall clock, and each delivery
takes as long on that wall clock as the test says.
"""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from recovery.accounts.directory import ensure_default_account
from recovery.app import create_app
from recovery.runtime.clock import ScaledClock, VirtualClock
from recovery.runtime.settings import Settings
from recovery.sandbox.live import SANDBOX_SECRET, LiveSandbox
from recovery.sandbox.run import DEFAULT_WORLD
from recovery.sandbox.world.checks import WorldContractError
from recovery.wiring import build_services
from tests.recovery.ingest.test_inbox import invoice_event, put

SECONDS_PER_DAY = 0.3  # the speed the served sandbox test runs at
WALL_START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class TimedDelivery:
    """The sandbox's HTTP client: each post takes ``seconds`` of wall time, then reaches the app."""

    def __init__(self, client: TestClient, wall: VirtualClock, seconds: float) -> None:
        self.client, self.wall, self.seconds = client, wall, seconds

    def post(self, url: str, **kwargs):
        self.wall.advance(timedelta(seconds=self.seconds))
        return self.client.post(url, **kwargs)

    def close(self) -> None:
        pass


@pytest.fixture
def wall() -> VirtualClock:
    return VirtualClock(WALL_START)


def live_services(tmp_path, sqlite_template, wall, **settings):
    database = tmp_path / "live.db"
    shutil.copy(sqlite_template, database)
    settings = Settings(database_url=f"sqlite:///{database}", stripe_api_key=None,
                        run_worker=False, **settings)
    clock = ScaledClock(wall.now(), speed=86400 / SECONDS_PER_DAY, wall=wall)
    services = build_services(settings, clock)
    ensure_default_account(services.sessions, settings, clock)
    return services


def run_live(services, wall: VirtualClock, *, delivery_seconds: float, days: int = 30) -> dict:
    """Step the live sandbox through ``days`` simulated days; the receiver's counters."""
    live = LiveSandbox(services, "http://testserver/webhooks/stripe", subscribers=100,
                       world=DEFAULT_WORLD)
    app = create_app(services, run_worker=False)
    with TestClient(app) as client:
        live.http = TimedDelivery(client, wall, delivery_seconds)
        since = live.start
        for _step in range(days * 4):
            wall.advance(timedelta(seconds=SECONDS_PER_DAY / 4))
            since = live._step(since)
        return app.state.receiver_stats.snapshot()


def test_a_delivery_that_takes_real_time_is_fresh_at_any_speed(tmp_path, sqlite_template, wall):
    # serve.py gives the receiver the sandbox's own secret when none is configured.
    services = live_services(tmp_path, sqlite_template, wall,
                             stripe_webhook_secrets=SANDBOX_SECRET)
    # 50 ms of real time is four simulated hours: far past the 300 s signature tolerance.
    counts = run_live(services, wall, delivery_seconds=0.05)
    assert counts.get("accepted", 0) > 0
    assert not [outcome for outcome in counts if outcome.startswith("rejected")], counts
    services.close()


def test_the_sandbox_signs_with_the_secret_the_receiver_is_configured_with(
        tmp_path, sqlite_template, wall):
    services = live_services(tmp_path, sqlite_template, wall,
                             stripe_webhook_secrets="whsec_operator_sandbox_1,whsec_older_2")
    counts = run_live(services, wall, delivery_seconds=0.0)
    assert counts.get("accepted", 0) > 0
    assert not [outcome for outcome in counts if outcome.startswith("rejected")], counts
    services.close()


def test_healthz_measures_the_inbox_lag_in_real_time(tmp_path, sqlite_template, wall):
    services = live_services(tmp_path, sqlite_template, wall,
                             stripe_webhook_secrets=SANDBOX_SECRET)
    with TestClient(create_app(services, run_worker=False)) as client:
        put(services, invoice_event("evt_waiting"))
        wall.advance(timedelta(seconds=2))  # almost a week of simulated time
        response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["oldest_pending_age_seconds"] == 2.0
    services.close()


def test_a_world_that_breaks_its_contract_stops_the_live_sandbox(tmp_path, sqlite_template,
                                                                 wall):
    services = live_services(tmp_path, sqlite_template, wall,
                             stripe_webhook_secrets=SANDBOX_SECRET)
    live = LiveSandbox(services, "http://testserver/webhooks/stripe", subscribers=5,
                       world=DEFAULT_WORLD)
    live.world.actions = lambda start, end: ["cancel everyone"]
    wall.advance(timedelta(seconds=1))
    with pytest.raises(WorldContractError, match="returned a str"):
        live._step(live.start)
    live.step_seconds = 0
    live.start_thread()  # the loop ends on its own: a broken World will not mend
    live._thread.join(timeout=10)
    assert not live._thread.is_alive()
    live.stop()
    services.close()


def test_the_dashboard_shows_the_live_sandboxs_virtual_time_and_counts(tmp_path, sqlite_template,
                                                                       wall):
    from recovery.accounts.tokens import create_token
    from tests.recovery.dashboard.conftest import sign_in

    services = live_services(tmp_path, sqlite_template, wall,
                             stripe_webhook_secrets=SANDBOX_SECRET, outbox_dir=tmp_path / "out",
                             session_secret_path=tmp_path / "session.secret")
    live = LiveSandbox(services, "http://testserver/webhooks/stripe", subscribers=20,
                       world=DEFAULT_WORLD)
    with TestClient(create_app(services, run_worker=False, sandbox_state=live.state)) as client:
        live.http = TimedDelivery(client, wall, 0.0)
        since = live.start
        for _step in range(8):  # two simulated days
            wall.advance(timedelta(seconds=SECONDS_PER_DAY / 4))
            since = live._step(since)
        _info, token = create_token(services.sessions, services.clock,
                                    account_id=services.settings.account_id, name="demo",
                                    scopes=["read"], actor="test")
        sign_in(client, token)
        page = client.get("/dashboard/sandbox")
    services.close()
    assert page.status_code == 200
    facts = dict(re.findall(r'<th scope="row">([^<]+)</th><td>([^<]*)</td>', page.text))
    assert facts["simulated days so far"] == "2.0"
    assert facts["subscribers"] == "20"
    assert facts["one simulated day takes"] == f"{SECONDS_PER_DAY:g} s"
    assert int(facts["webhooks sent"]) >= int(facts["payment failures sent"])
