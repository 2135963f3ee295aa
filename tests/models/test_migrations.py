"""Migrations are the only way the schema is made: up, down and up again on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

import models
from recovery.runtime import migrations
from recovery.runtime.db import make_engine
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database

EXPERIMENT_TABLES = ("experiment", "experiment_assignment")
# Added by 0014_outbound_webhooks, after the revisions some tests stop at.
OUTBOUND_TABLES = {"outbound_endpoint", "outbound_event", "outbound_delivery"}


def table_names(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def round_trip(url: str) -> None:
    migrations.upgrade(url)
    assert table_names(url) == set(models.metadata.tables)
    migrations.downgrade(url, "base")
    assert table_names(url) == set()
    migrations.upgrade(url)
    assert table_names(url) == set(models.metadata.tables)


def shared_rate_limits_come_and_go(url: str) -> None:
    """0003 adds only the shared rate-limit table, and reverting it removes only that."""
    migrations.upgrade(url, "0003")
    with_slots = table_names(url)
    migrations.downgrade(url, "0002")
    assert table_names(url) == with_slots - {"rate_limit_slot"}
    migrations.upgrade(url)
    assert table_names(url) == set(models.metadata.tables)


def test_migrations_up_and_down_on_sqlite(tmp_path):
    round_trip(f"sqlite:///{tmp_path / 'm.db'}")


def on_fresh_postgres(name: str, check) -> None:
    """Run ``check`` against a new, empty PostgreSQL database, dropped afterwards. The name is
    made unique, so two test runs on one server never drop each other's database."""
    name = f"{name}_{uuid.uuid4().hex[:10]}"
    url = create_postgres_database(POSTGRES_URL, name)
    try:
        check(url)
    finally:
        drop_postgres_database(POSTGRES_URL, name)


@pytest.mark.postgres
def test_migrations_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_round_trip", round_trip)


def test_shared_rate_limits_migrate_up_and_down_on_sqlite(tmp_path):
    shared_rate_limits_come_and_go(f"sqlite:///{tmp_path / 'r.db'}")


@pytest.mark.postgres
def test_shared_rate_limits_migrate_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_rate_limit", shared_rate_limits_come_and_go)


def test_migrated_schema_matches_the_models(tmp_path):
    """Autogenerate finds nothing to add: the migrations and the models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=1)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), models.metadata)
    engine.dispose()
    assert diff == []


def live_steps_become_unique(url: str) -> None:
    """0004_engine keeps one live step per case (the running one, else the newest) before it
    adds the index that refuses a second, and reverting it removes only what it added."""
    migrations.upgrade(url, "0003")
    tables_at_0003 = table_names(url)
    engine = make_engine(url, pool_size=1)
    now = "2026-11-02 14:00:00"
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO account (id, name, livemode, webhook_secrets, created_at) "
            "VALUES ('acct_m', '', false, '', :now)"), {"now": now})
        for case_id in (1, 2):
            connection.execute(text(
                "INSERT INTO recovery_case (id, account_id, stripe_invoice_id, amount_due, "
                "currency, status, waiting_for, customer_timezone, engine_retries, "
                "first_failed_at, created_at, updated_at) VALUES (:id, 'acct_m', :inv, 100, "
                "'usd', 'open', 'retry', 'UTC', 0, :now, :now, :now)"),
                {"id": case_id, "inv": f"in_m{case_id}", "now": now})
        for action_id, case_id, kind, status in [
                (1, 1, "retry", "claimed"), (2, 1, "retry", "scheduled"),
                (3, 1, "end_dunning", "scheduled"), (4, 1, "notify", "scheduled"),
                (5, 2, "retry", "scheduled"), (6, 2, "retry", "scheduled")]:
            connection.execute(text(
                "INSERT INTO scheduled_action (id, account_id, case_id, kind, due_at, status, "
                "reason, tries, created_at) VALUES (:id, 'acct_m', :case, :kind, :now, "
                ":status, '', 0, :now)"),
                {"id": action_id, "case": case_id, "kind": kind, "status": status, "now": now})
    migrations.upgrade(url)
    with engine.connect() as connection:
        statuses = dict(connection.execute(text("SELECT id, status FROM scheduled_action")).all())
    engine.dispose()
    assert statuses == {1: "claimed", 2: "canceled", 3: "canceled", 4: "scheduled",
                        5: "canceled", 6: "scheduled"}
    migrations.downgrade(url, "0003")
    # Tables added after 0003 go with the migrations that added them.
    assert table_names(url) == tables_at_0003


def test_live_steps_become_unique_on_sqlite(tmp_path):
    live_steps_become_unique(f"sqlite:///{tmp_path / 'l.db'}")


@pytest.mark.postgres
def test_live_steps_become_unique_on_postgres():
    on_fresh_postgres("recovery_migrations_live_steps", live_steps_become_unique)


def attempt_columns(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        return {column["name"] for column in inspect(engine).get_columns("charge_attempt")}
    finally:
        engine.dispose()


def messages_become_pending_capable(url: str) -> None:
    """0004 keeps every message written before it (each was already delivered: it stays
    ``sent``, gains a message id and its write time) and reverting it keeps them too."""
    migrations.upgrade(url, "0003")
    engine = make_engine(url, pool_size=1)
    sent_at = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO account (id, name, livemode, webhook_secrets, created_at) "
                "VALUES ('acct_1', '', false, '', :at)"), {"at": sent_at})
            connection.execute(text(
                "INSERT INTO message (account_id, kind, channel, subject, status, sent_at) "
                "VALUES ('acct_1', 'payment_failed', 'email', 'Hi', 'sent', :at)"),
                {"at": sent_at})
        migrations.upgrade(url)
        with engine.connect() as connection:
            row = connection.execute(text(
                "SELECT message_id, status, created_at, sent_at, tries FROM message")).one()
        assert row.message_id == "<message-1@recovery.invalid>"
        assert (row.status, row.tries) == ("sent", 0)
        assert row.created_at is not None and row.sent_at is not None
        migrations.downgrade(url, "0003")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM message")).scalar() == 1
        migrations.upgrade(url)
    finally:
        engine.dispose()


def payment_method_kind_comes_and_goes(url: str) -> None:
    """0004_rules adds only charge_attempt.payment_method_kind; reverting it drops only that."""
    migrations.upgrade(url)
    assert "payment_method_kind" in attempt_columns(url)
    migrations.downgrade(url, "0003")
    assert attempt_columns(url) == set(models.ChargeAttempt.__table__.columns.keys()) - {
        "payment_method_kind", "details_pending", "card_exp_month", "card_exp_year"}
    migrations.upgrade(url, "0004_rules")
    assert "payment_method_kind" in attempt_columns(url)


def test_attempt_payment_method_kind_migrates_up_and_down_on_sqlite(tmp_path):
    payment_method_kind_comes_and_goes(f"sqlite:///{tmp_path / 'k.db'}")


@pytest.mark.postgres
def test_attempt_payment_method_kind_migrates_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_attempt_kind", payment_method_kind_comes_and_goes)


def test_messages_migrate_up_and_down_on_sqlite(tmp_path):
    messages_become_pending_capable(f"sqlite:///{tmp_path / 'msg.db'}")


@pytest.mark.postgres
def test_messages_migrate_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_messages", messages_become_pending_capable)


def column_names(url: str, table: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def revision_before(revision: str) -> str:
    """The revision a migration follows (migrations are re-chained as branches merge)."""
    return ScriptDirectory.from_config(migrations.alembic_config("sqlite://")).get_revision(
        revision).down_revision


def inbox_fetch_state_comes_and_goes(url: str) -> None:
    """0004_ingest adds the inbox's deferral count and the attempts' pending-details flag, with
    defaults for the rows already there, and reverting it keeps those rows."""
    before = revision_before("0004_ingest")
    migrations.upgrade(url, before)
    engine = make_engine(url, pool_size=1)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO account (id, name, livemode, webhook_secrets, created_at) "
            "VALUES ('acct_m', 'm', false, '', '2026-11-30 00:00:00')"))
        connection.execute(text(
            "INSERT INTO webhook_event (account_id, stripe_event_id, type, livemode, thin, "
            "payload, created_at, received_at, status, tries) VALUES ('acct_m', 'evt_m', "
            "'invoice.paid', false, false, '{}', '2026-11-30 00:00:00', "
            "'2026-11-30 00:00:00', 'pending', 3)"))
        connection.execute(text(
            "INSERT INTO charge_attempt (account_id, attempted_at, by, succeeded, amount, "
            "currency, created_at) VALUES ('acct_m', '2026-11-30 00:00:00', 'stripe', false, "
            "100, 'usd', '2026-11-30 00:00:00')"))
    migrations.upgrade(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT tries, deferrals FROM webhook_event")).one() == (
            3, 0)
        assert connection.execute(text(
            "SELECT details_pending FROM charge_attempt")).scalar_one() in (False, 0)
    migrations.downgrade(url, before)
    assert "deferrals" not in column_names(url, "webhook_event")
    assert "details_pending" not in column_names(url, "charge_attempt")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM charge_attempt")).scalar_one() == 1
    engine.dispose()
    migrations.upgrade(url)


def test_inbox_fetch_state_migrates_up_and_down_on_sqlite(tmp_path):
    inbox_fetch_state_comes_and_goes(f"sqlite:///{tmp_path / 'f.db'}")


@pytest.mark.postgres
def test_inbox_fetch_state_migrates_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_fetch_state", inbox_fetch_state_comes_and_goes)


def columns_of(url: str, table: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def feature_columns_come_and_go(url: str) -> None:
    """0006_features adds the scorer's columns and ``model_version``, keeping a case written
    before it; reverting it removes only what it added, and the case is still there."""
    migrations.upgrade(url, "0005_inbox_claimed_by")
    engine = make_engine(url, pool_size=1)
    now = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO account (id, name, livemode, webhook_secrets, created_at) "
            "VALUES ('acct_f', '', false, '', :now)"), {"now": now})
        connection.execute(text(
            "INSERT INTO recovery_case (id, account_id, stripe_invoice_id, amount_due, currency, "
            "status, waiting_for, customer_timezone, engine_retries, first_failed_at, "
            "created_at, updated_at) VALUES (1, 'acct_f', 'in_f', 100, 'usd', 'open', 'retry', "
            "'UTC', 0, :now, :now, :now)"), {"now": now})
        connection.execute(text(
            "INSERT INTO charge_attempt (account_id, case_id, attempted_at, by, succeeded, "
            "amount, currency, details_pending, created_at) VALUES ('acct_f', 1, :now, "
            "'stripe', false, 100, 'usd', false, :now)"), {"now": now})
    before = {t: columns_of(url, t) for t in ("charge_attempt", "recovery_case",
                                               "finished_invoice")}
    migrations.upgrade(url, "0006_features")
    assert "model_version" in table_names(url)
    assert columns_of(url, "charge_attempt") - before["charge_attempt"] == {
        "card_exp_month", "card_exp_year"}
    assert columns_of(url, "recovery_case") - before["recovery_case"] == {"plan_interval_days"}
    assert columns_of(url, "finished_invoice") - before["finished_invoice"] == {
        "stripe_customer_id"}
    migrations.downgrade(url, "0005_inbox_claimed_by")
    assert "model_version" not in table_names(url)
    assert {t: columns_of(url, t) for t in before} == before
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM charge_attempt")).scalar() == 1
        assert connection.execute(text("SELECT count(*) FROM recovery_case")).scalar() == 1
    engine.dispose()
    migrations.upgrade(url)


def test_feature_columns_migrate_up_and_down_on_sqlite(tmp_path):
    feature_columns_come_and_go(f"sqlite:///{tmp_path / 'f.db'}")


@pytest.mark.postgres
def test_feature_columns_migrate_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_features", feature_columns_come_and_go)


def messaging_delivery_comes_and_goes(url: str) -> None:
    """0007_messaging_delivery adds only ``contact_preference`` and ``link_use``; reverting it
    removes only those, and the unique token id refuses a second use of one link."""
    before = revision_before("0007_messaging_delivery")
    migrations.upgrade(url, before)
    earlier = table_names(url)
    migrations.upgrade(url, "0007_messaging_delivery")
    assert table_names(url) - earlier == {"contact_preference", "link_use"}
    engine = make_engine(url, pool_size=1)
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    insert_use = text("INSERT INTO link_use (account_id, token_id, purpose, used_at) "
                      "VALUES ('acct_l', 'tok1', 'offer', :now)")
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO account (id, name, livemode, webhook_secrets, created_at) "
                "VALUES ('acct_l', '', false, '', :now)"), {"now": now})
            connection.execute(insert_use, {"now": now})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(insert_use, {"now": now})
    finally:
        engine.dispose()
    migrations.downgrade(url, before)
    assert table_names(url) == earlier
    migrations.upgrade(url)


def test_messaging_delivery_migrates_up_and_down_on_sqlite(tmp_path):
    messaging_delivery_comes_and_goes(f"sqlite:///{tmp_path / 'd.db'}")


@pytest.mark.postgres
def test_messaging_delivery_migrates_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_delivery", messaging_delivery_comes_and_goes)


def offers_come_and_go(url: str) -> None:
    """0009_offers adds only the ``offer`` table (one live offer per case), and reverting it
    removes only that."""
    migrations.upgrade(url, "0009_offers")
    tables = table_names(url)
    assert "offer" in tables
    engine = make_engine(url, pool_size=1)
    try:
        indexes = {index["name"]: index for index in inspect(engine).get_indexes("offer")}
        assert indexes["ix_offer_case_id_live"]["unique"]
    finally:
        engine.dispose()
    migrations.downgrade(url, revision_before("0009_offers"))
    assert table_names(url) == tables - {"offer"}
    migrations.upgrade(url, "0009_offers")
    assert table_names(url) == tables


def test_offers_migrate_up_and_down_on_sqlite(tmp_path):
    offers_come_and_go(f"sqlite:///{tmp_path / 'o.db'}")


@pytest.mark.postgres
def test_offers_migrate_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_offers", offers_come_and_go)


def message_content_comes_and_goes(url: str) -> None:
    """0010_message_content adds the columns a re-send reads the message back from; reverting
    it keeps the messages already written."""
    before = revision_before("0010_message_content")
    migrations.upgrade(url, before)
    earlier = columns_of(url, "message")
    migrations.upgrade(url, "0010_message_content")
    assert columns_of(url, "message") - earlier == {
        "body_text", "body_html", "locale", "sender", "reply_to", "unsubscribe_url", "offer"}
    migrations.downgrade(url, before)
    assert columns_of(url, "message") == earlier
    migrations.upgrade(url)


def test_message_content_migrates_up_and_down_on_sqlite(tmp_path):
    message_content_comes_and_goes(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_message_content_migrates_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_message_content", message_content_comes_and_goes)


def backfill_progress_comes_and_goes(url: str) -> None:
    """0012_backfill_progress adds only the ``backfill_run`` table, and reverting it removes
    only that."""
    before = revision_before("0012_backfill_progress")
    migrations.upgrade(url, before)
    earlier = table_names(url)
    migrations.upgrade(url, "0012_backfill_progress")
    assert table_names(url) - earlier == {"backfill_run"}
    assert "reached_at" in columns_of(url, "backfill_run")
    migrations.downgrade(url, before)
    assert table_names(url) == earlier
    migrations.upgrade(url)


def experiments_come_and_go(url: str) -> None:
    """0016_experiments adds only the experiment tables; an assignment is written once per
    experiment and customer; reverting it removes only those tables."""
    before = revision_before("0016_experiments")
    migrations.upgrade(url, before)
    earlier = table_names(url)
    migrations.upgrade(url, "0016_experiments")
    assert table_names(url) - earlier == set(EXPERIMENT_TABLES)
    engine = make_engine(url, pool_size=1)
    now = datetime(2026, 12, 12, 9, 0, tzinfo=UTC)
    assign = text("INSERT INTO experiment_assignment (experiment_id, account_id, "
                  "stripe_customer_id, arm, assigned_at) VALUES (1, 'acct_x', 'cus_1', :arm, "
                  ":now)")
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO account (id, name, livemode, webhook_secrets, created_at) "
                "VALUES ('acct_x', '', false, '', :now)"), {"now": now})
            connection.execute(text(
                "INSERT INTO experiment (id, account_id, name, control_policy_version_id, "
                "treatment_policy_version_id, treatment_percent, status, created_at) VALUES "
                "(1, 'acct_x', 'x', 1, 2, 50, 'running', :now)"), {"now": now})
            connection.execute(assign, {"arm": "control", "now": now})
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(assign, {"arm": "treatment", "now": now})
    finally:
        engine.dispose()
    migrations.downgrade(url, before)
    assert table_names(url) == earlier
    migrations.upgrade(url)


def outbound_webhooks_come_and_go(url: str) -> None:
    """0014_outbound_webhooks adds only the endpoint, event and delivery-log tables (an event
    once per account and dedupe key), and reverting it removes only those."""
    before = revision_before("0014_outbound_webhooks")
    migrations.upgrade(url, before)
    earlier = table_names(url)
    migrations.upgrade(url, "0014_outbound_webhooks")
    assert table_names(url) - earlier == OUTBOUND_TABLES
    engine = make_engine(url, pool_size=1)
    try:
        uniques = {tuple(u["column_names"])
                   for u in inspect(engine).get_unique_constraints("outbound_event")}
        assert {("account_id", "dedupe_key"), ("event_id",)} <= uniques
    finally:
        engine.dispose()
    migrations.downgrade(url, before)
    assert table_names(url) == earlier
    migrations.upgrade(url)


def test_backfill_progress_migrates_up_and_down_on_sqlite(tmp_path):
    backfill_progress_comes_and_goes(f"sqlite:///{tmp_path / 'b.db'}")


@pytest.mark.postgres
def test_backfill_progress_migrates_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_backfill_progress", backfill_progress_comes_and_goes)


def test_experiments_migrate_up_and_down_on_sqlite(tmp_path):
    experiments_come_and_go(f"sqlite:///{tmp_path / 'x.db'}")


@pytest.mark.postgres
def test_experiments_migrate_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_experiments", experiments_come_and_go)
def test_outbound_webhooks_migrate_up_and_down_on_sqlite(tmp_path):
    outbound_webhooks_come_and_go(f"sqlite:///{tmp_path / 'w.db'}")


@pytest.mark.postgres
def test_outbound_webhooks_migrate_up_and_down_on_postgres():
    on_fresh_postgres("recovery_migrations_outbound", outbound_webhooks_come_and_go)


def case_tallies_come_and_go(url: str) -> None:
    """0017_case_tallies fills each stored case's tallies from its rows: the first failure by
    time (not by id), the counts, the attempt that paid, and the messages sent while it was
    open; reverting it removes only those columns."""
    before = revision_before("0017_case_tallies")
    migrations.upgrade(url, before)
    engine = make_engine(url, pool_size=1)
    opened = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    times = {f"h{n}": opened.replace(hour=10 + n) for n in range(6)}
    attempt = text(
        "INSERT INTO charge_attempt (account_id, case_id, attempted_at, by, succeeded, "
        "details_pending, decline_class, card_brand, card_country, amount, currency, "
        "created_at) VALUES ('acct_t', :case, :at, :by, :ok, false, :cls, :brand, 'US', 900, "
        "'usd', :at)")
    message = text(
        "INSERT INTO message (account_id, case_id, message_id, kind, channel, subject, status, "
        "tries, created_at, sent_at) VALUES ('acct_t', 1, :id, 'payment_failed', :channel, "
        "'s', :status, 0, :at, :sent)")
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO account (id, name, livemode, webhook_secrets, created_at) "
                "VALUES ('acct_t', '', false, '', :at)"), {"at": opened})
            for case_id, closed in ((1, times["h4"]), (2, None)):
                connection.execute(text(
                    "INSERT INTO recovery_case (id, account_id, stripe_invoice_id, amount_due, "
                    "currency, status, waiting_for, customer_timezone, engine_retries, "
                    "first_failed_at, closed_at, created_at, updated_at) VALUES (:id, 'acct_t', "
                    ":invoice, 900, 'usd', 'recovered', 'nothing', 'UTC', 0, :at, :closed, :at, "
                    ":at)"), {"id": case_id, "invoice": f"in_{case_id}", "at": opened,
                              "closed": closed})
            # Written out of time order: the first failure is the earliest, not the first row.
            for at, by, ok, cls, brand in (("h2", "engine", False, "retry", "visa"),
                                           ("h0", "stripe", False, "new_payment_method", "amex"),
                                           ("h3", "engine", True, None, "visa")):
                connection.execute(attempt, {"case": 1, "at": times[at], "by": by, "ok": ok,
                                             "cls": cls, "brand": brand})
            for n, (channel, status, sent) in enumerate((("email", "sent", "h1"),
                                                         ("sms", "sent", "h3"),
                                                         ("email", "pending", None),
                                                         ("email", "sent", "h5"))):
                connection.execute(message, {"id": f"<m{n}@t>", "channel": channel,
                                             "status": status, "at": opened,
                                             "sent": times[sent] if sent else None})
        migrations.upgrade(url, "0017_case_tallies")
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT id, first_decline_class, first_card_brand, first_card_country, "
                "attempt_count, engine_attempt_count, failed_attempt_count, "
                "paying_attempt_number, message_count, last_message_channel FROM recovery_case "
                "ORDER BY id")).all()
        # Case 1: the sms at h3 is its last message while open (closed at h4; the h5 email
        # came after). Case 2 has no rows.
        assert [tuple(row) for row in rows] == [
            (1, "new_payment_method", "amex", "US", 3, 2, 2, 3, 2, "sms"),
            (2, None, None, None, 0, 0, 0, None, 0, None)]
        migrations.downgrade(url, before)
        assert "attempt_count" not in columns_of(url, "recovery_case")
        migrations.upgrade(url)
    finally:
        engine.dispose()


def test_case_tallies_migrate_up_and_down_on_sqlite(tmp_path):
    case_tallies_come_and_go(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_case_tallies_migrate_up_and_down_on_postgres():
    on_fresh_postgres("recovery_test_case_tallies", case_tallies_come_and_go)
