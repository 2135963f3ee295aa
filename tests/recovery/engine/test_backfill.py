"""History backfill runs against Stripe faked at the HTTP edge (respx) and a migrated database:
imported once, twice equals once, resumed after an interruption as if it never happened."""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlmodel import Session

import models
from models import BackfillRun, ChargeAttempt, FinishedInvoice, RecoveryCase, ScheduledAction
from recovery.accounts.directory import ensure_default_account
from recovery.engine.backfill import backfill_account
from recovery.errors import GatewayUnavailable, NotFound
from recovery.runtime.db import make_engine, session_factory
from recovery.stripe_api.gateway import StripeGateway
from tests.recovery.history_stub import (
    DRAFT,
    PAID_BY_CUSTOMER,
    PAID_BY_RETRY,
    PAID_FIRST_TIME,
    STILL_OPEN,
    TOO_OLD,
    UNCOLLECTIBLE,
    VOIDED,
    charge_json,
    invoice_json,
    sample_history,
)
from tests.webhooks import payloads as p

ACCOUNT = "acct_default"
EVERY_INVOICE = 7  # in the 180-day window
EVERY_ATTEMPT = 9  # the charges of the invoices that had a decline
EVERY_CASE = 4  # the invoices that ended after a decline


@pytest.fixture
def gateway():
    built = StripeGateway("sk_test_backfill_engine")
    yield built
    built.close()


@pytest.fixture
def stub(clock):
    history = sample_history(clock.now())
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        history.install(router)
        yield history


def backfill(services, gateway, *, sessions=None, days=180, **options):
    return backfill_account(sessions or services.sessions, gateway, services.clock, ACCOUNT,
                            days=days, **options)


def contents(sessions) -> dict[str, list[tuple]]:
    """Every row of every table the backfill writes or must leave alone (not its own log)."""
    with sessions() as session:
        return {table.name: [tuple(row) for row in session.execute(
                    select(table).order_by(*table.primary_key.columns))]
                for table in models.metadata.sorted_tables if table.name != "backfill_run"}


def rows(services, model) -> list:
    with services.sessions() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def cases_by_invoice(services) -> dict[str, RecoveryCase]:
    return {case.stripe_invoice_id: case for case in rows(services, RecoveryCase)}


@pytest.fixture
def reference(tmp_path, sqlite_template, settings, clock):
    """A second migrated database, for a run nothing interrupted."""
    path = tmp_path / "reference.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}", pool_size=1)
    sessions = session_factory(engine)
    ensure_default_account(sessions, settings, clock)
    yield sessions
    engine.dispose()


def test_a_multi_page_history_is_imported_once(services, gateway, stub, clock):
    seen = []
    state = backfill(services, gateway, on_progress=seen.append)

    assert (state.status, state.invoices, state.attempts, state.cases, state.skipped) == (
        "finished", EVERY_INVOICE, EVERY_ATTEMPT, EVERY_CASE, 1)
    assert [name for name in stub.requests if name.startswith("invoices")] == [
        "invoices:", f"invoices:{UNCOLLECTIBLE}", f"invoices:{PAID_BY_RETRY}"]
    # A draft has no attempts to ask for, and an invoice before the window is never listed.
    assert f"payments:{DRAFT}" not in stub.requests
    assert not any(TOO_OLD in name for name in stub.requests)
    cases = cases_by_invoice(services)
    assert {invoice: (case.status, case.recovered_by, case.waiting_for)
            for invoice, case in cases.items()} == {
        PAID_BY_RETRY: ("recovered", "stripe", "nothing"),
        PAID_BY_CUSTOMER: ("recovered", "customer", "nothing"),
        VOIDED: ("closed_elsewhere", None, "nothing"),
        UNCOLLECTIBLE: ("closed_elsewhere", None, "nothing")}
    retried = cases[PAID_BY_RETRY]
    assert retried.first_failed_at == clock.now() - timedelta(days=120)
    assert retried.closed_at == clock.now() - timedelta(days=115)
    assert (retried.card_fingerprint, retried.card_brand) == (p.FINGERPRINT, "visa")
    assert (retried.customer_timezone, retried.plan_interval_days) == ("Europe/Paris", 30)
    assert retried.last_decline_class is not None
    assert rows(services, ScheduledAction) == []
    # Progress: one report at the start, one per invoice, one at the end; the share of the
    # window read follows the invoices back in time.
    assert [report.invoices for report in seen] == [0, 1, 2, 3, 4, 5, 6, 7, 7]
    covered = [round(report.covered, 3) for report in seen]
    assert covered == sorted(covered) and covered[0] == 0.0 and covered[-1] == 1.0
    assert covered[4] == round(60 / 180, 3)  # the fourth invoice is 60 days old


def test_attempts_carry_their_outcomes_and_traces_mark_how_invoices_ended(services, gateway,
                                                                          stub, clock):
    backfill(services, gateway)

    attempts = rows(services, ChargeAttempt)
    cases = {case.id: case.stripe_invoice_id for case in rows(services, RecoveryCase)}
    by_invoice: dict[str, list[ChargeAttempt]] = {}
    for attempt in attempts:
        by_invoice.setdefault(attempt.stripe_invoice_id, []).append(attempt)
    assert {invoice: len(found) for invoice, found in by_invoice.items()} == {
        UNCOLLECTIBLE: 1, STILL_OPEN: 1, VOIDED: 2, PAID_BY_CUSTOMER: 2, PAID_BY_RETRY: 3}
    assert all(a.by == "stripe" and a.action_id is None for a in attempts)
    for attempt in attempts:
        assert (cases.get(attempt.case_id) == attempt.stripe_invoice_id
                if attempt.stripe_invoice_id != STILL_OPEN else attempt.case_id is None)
    first, _second, paying = by_invoice[PAID_BY_RETRY]
    assert (first.decline_code, first.network_decline_code, first.decline_class) == (
        "insufficient_funds", "51", "retry")
    assert first.attempted_at == clock.now() - timedelta(days=120)
    assert (paying.succeeded, paying.decline_code, paying.card_fingerprint) == (
        True, None, p.FINGERPRINT)
    finished = {row.stripe_invoice_id: (row.status, row.stripe_event_id)
                for row in rows(services, FinishedInvoice)}
    assert finished == {PAID_FIRST_TIME: ("paid", None), PAID_BY_RETRY: ("paid", None),
                        PAID_BY_CUSTOMER: ("paid", None), VOIDED: ("void", None),
                        UNCOLLECTIBLE: ("uncollectible", None)}


def test_a_second_run_reads_everything_again_and_changes_nothing(services, gateway, stub,
                                                                 clock):
    backfill(services, gateway)
    before = contents(services.sessions)
    clock.advance(timedelta(hours=2))
    requests_before = len(stub.requests)

    again = backfill(services, gateway)

    assert contents(services.sessions) == before
    assert not again.resumed
    assert (again.invoices, again.attempts, again.cases, again.skipped) == (
        EVERY_INVOICE, 0, 0, EVERY_INVOICE)
    assert stub.requests[requests_before] == "invoices:"
    assert [run.status for run in rows(services, BackfillRun)] == ["finished", "finished"]


@pytest.mark.parametrize(("failing", "answer", "cursor"), [
    (f"invoices:{UNCOLLECTIBLE}", 500, UNCOLLECTIBLE),  # the second page
    (f"charges:pi_{PAID_BY_CUSTOMER}", httpx.ConnectError("reset"), VOIDED),  # one's attempts
], ids=["page-2", "one-invoices-attempts"])
def test_an_interrupted_run_resumes_and_ends_as_if_never_interrupted(
        services, gateway, stub, reference, failing, answer, cursor):
    stub.fail(failing, answer)
    with pytest.raises(GatewayUnavailable):
        backfill(services, gateway)
    (stopped,) = rows(services, BackfillRun)
    assert (stopped.status, stopped.cursor) == ("interrupted", cursor)
    assert "Stripe is unavailable" in stopped.error
    done = list(stub.requests)

    resumed = backfill(services, gateway)

    asked = stub.requests[len(done):]
    assert resumed.resumed and resumed.status == "finished"
    # The pages and invoices already done are not asked for again.
    assert asked[0] == f"invoices:{cursor}"
    assert "invoices:" not in asked
    imported = {name for name in done if name.startswith("payments:")} - {
        f"payments:{PAID_BY_CUSTOMER}"}
    assert imported.isdisjoint(asked)
    assert [run.id for run in rows(services, BackfillRun)] == [stopped.id]

    uninterrupted = backfill(services, gateway, sessions=reference)
    assert contents(services.sessions) == contents(reference)
    assert (resumed.invoices, resumed.attempts, resumed.cases, resumed.skipped) == (
        uninterrupted.invoices, uninterrupted.attempts, uninterrupted.cases,
        uninterrupted.skipped)


def test_ctrl_c_leaves_the_cursor_at_the_last_invoice_fully_imported(services, gateway, stub,
                                                                     reference):
    def stop_after_four(state):
        if state.invoices == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill(services, gateway, on_progress=stop_after_four)
    (stopped,) = rows(services, BackfillRun)
    assert (stopped.status, stopped.cursor, stopped.invoices) == ("interrupted", VOIDED, 4)
    assert stopped.error == "stopped by the operator"

    resumed = backfill(services, gateway)

    assert resumed.resumed and resumed.invoices == EVERY_INVOICE
    backfill(services, gateway, sessions=reference)
    assert contents(services.sessions) == contents(reference)


def test_a_run_whose_process_died_is_resumed_too(services, gateway, stub):
    stub.fail(f"invoices:{UNCOLLECTIBLE}", 500)
    with pytest.raises(GatewayUnavailable):
        backfill(services, gateway)
    with services.sessions() as session:
        (run,) = session.scalars(select(BackfillRun))
        run.status = "running"  # as a killed process leaves it
        session.commit()

    resumed = backfill(services, gateway)

    assert resumed.resumed and resumed.run_id == run.id and resumed.invoices == EVERY_INVOICE


def test_a_run_of_another_length_does_not_resume_an_unfinished_one(services, gateway, stub):
    stub.fail(f"invoices:{UNCOLLECTIBLE}", 500)
    with pytest.raises(GatewayUnavailable):
        backfill(services, gateway)

    other = backfill(services, gateway, days=90)

    assert not other.resumed and other.invoices == 5  # those of the last 90 days
    assert [run.status for run in rows(services, BackfillRun)] == ["interrupted", "finished"]


def test_a_still_open_invoice_gets_its_history_but_no_case_until_it_ends(services, gateway,
                                                                         stub, clock):
    backfill(services, gateway)
    assert STILL_OPEN not in cases_by_invoice(services)

    # Later it is paid: the next backfill closes it, with the attempt it had already imported.
    paid_at = clock.advance(timedelta(days=1))
    stub.invoices = [inv for inv in stub.invoices if inv["id"] != STILL_OPEN]
    stub.add(invoice_json(STILL_OPEN, "paid", paid_at - timedelta(days=4), ended=paid_at),
             *stub.charges[STILL_OPEN],
             charge_json(f"ch_{STILL_OPEN}_2", f"pi_{STILL_OPEN}", paid_at, succeeded=True))
    again = backfill(services, gateway)

    case = cases_by_invoice(services)[STILL_OPEN]
    assert (case.status, case.recovered_by, case.closed_at) == ("recovered", "stripe", paid_at)
    assert (again.cases, again.attempts) == (1, 1)
    linked = [a for a in rows(services, ChargeAttempt) if a.stripe_invoice_id == STILL_OPEN]
    assert [a.case_id for a in linked] == [case.id, case.id]
    assert rows(services, ScheduledAction) == []


def test_an_invoice_with_a_live_case_keeps_it_as_it_is(services, gateway, stub, clock):
    with services.sessions() as session:
        live = RecoveryCase(account_id=ACCOUNT, stripe_invoice_id=STILL_OPEN,
                            stripe_customer_id=p.CUSTOMER_ID, waiting_for="retry",
                            first_failed_at=clock.now() - timedelta(days=3),
                            created_at=clock.now(), updated_at=clock.now())
        session.add(live)
        session.commit()

    backfill(services, gateway)

    case = cases_by_invoice(services)[STILL_OPEN]
    assert (case.status, case.waiting_for, case.closed_at) == ("open", "retry", None)
    (attempt,) = [a for a in rows(services, ChargeAttempt) if a.stripe_invoice_id == STILL_OPEN]
    assert attempt.case_id == case.id
    assert rows(services, ScheduledAction) == []


def test_smart_timing_trains_on_the_backfilled_history(services, gateway, stub, clock):
    from ml.dataset import attempt_dataset
    from ml.history import AccountLog

    backfill(services, gateway)

    with services.sessions() as session:
        frame = attempt_dataset(session, ACCOUNT)
        log = AccountLog.load(session, ACCOUNT)
        retried = cases_by_invoice(services)[PAID_BY_RETRY]
        snapshot = log.snapshot(retried.id, clock.now() - timedelta(days=117))
    # One row per retry (each case's first failure opened it): two for the invoice Stripe's
    # retry paid, one each for the one paid on a new card and the voided one.
    assert list(frame["label"]) == [0, 1, 1, 0]
    assert set(frame["by"]) == {"stripe"}
    assert frame["case_id"].nunique() == 3
    # The invoice the customer paid at once is their payment history.
    assert snapshot.history.last_success_at == clock.now() - timedelta(days=150)
    assert snapshot.attempt_number == 2 and snapshot.decline_code == "insufficient_funds"


def test_an_imported_decline_long_past_raises_no_reconcile_alert(services, gateway, stub,
                                                                 caplog):
    stub.charges[VOIDED][0]["outcome"]["reason"] = "duplicate_transaction"

    with caplog.at_level(logging.INFO):
        backfill(services, gateway)

    attempt = next(a for a in rows(services, ChargeAttempt)
                   if a.stripe_charge_id == f"ch_{VOIDED}_1")
    assert attempt.decline_class == "reconcile"
    assert "ALERT" not in caplog.text


def test_an_unknown_account_or_an_empty_window_is_refused(services, gateway, stub):
    with pytest.raises(NotFound):
        backfill_account(services.sessions, gateway, services.clock, "acct_nobody", days=180)
    with pytest.raises(ValueError, match="at least 1"):
        backfill(services, gateway, days=0)
    assert stub.requests == []


def test_a_connected_account_is_read_as_that_account(services, gateway, stub):
    with Session(services.db_engine) as session:
        session.add(models.Account(id="acct_connected", stripe_account_id="acct_1Connected",
                                   created_at=services.clock.now()))
        session.commit()

    backfill_account(services.sessions, gateway, services.clock, "acct_connected", days=180,
                     stripe_account="acct_1Connected")

    assert {request.headers["Stripe-Account"] for request in stub.sent} == {"acct_1Connected"}
    assert {case.account_id for case in rows(services, RecoveryCase)} == {"acct_connected"}
