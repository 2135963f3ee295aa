"""Tenancy across the whole API: one test walks every operation of the OpenAPI document with a
second account's token, naming the first account's objects, and checks that none of the first
account's data comes back and none of it changes."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import inspect, text

from models import ChargeAttempt, Message, RecoveryCase
from recovery.accounts.outbound_endpoints import create_endpoint
from recovery.accounts.secret_box import SecretBox
from recovery.engine.experiments import ExperimentPlan, start_experiment
from recovery.engine.policy_versions import replace_policy
from recovery.runtime.db import transaction

MARK = "tenant_first"  # in every identifier of the first account's objects
WALK = settings(max_examples=4, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
POLICY_VERSIONS = 12  # more than the walk's changes (PUT and rollback, 4 examples each) can make
# Routes that are not the API's: customers' signed links and Stripe's signed webhooks carry
# their own proof of whose they are (the signature), not a token.
NOT_TOKEN_ROUTES = ("/webhooks/stripe", "/links/", "/healthz")


def seed_first_account(services) -> dict[str, str]:
    """A case with an attempt and a message, policy versions and a running experiment between
    two of them, in the settings' account; the path parameters that name them."""
    account_id, now = services.settings.account_id, services.clock.now()
    invoice = f"in_{MARK}"
    with transaction(services.sessions) as session:
        case = RecoveryCase(account_id=account_id, stripe_invoice_id=invoice,
                            stripe_customer_id=f"cus_{MARK}", amount_due=4200,
                            first_failed_at=now, created_at=now, updated_at=now,
                            last_reason=f"reason {MARK}")
        session.add(case)
        session.flush()
        session.add(ChargeAttempt(account_id=account_id, case_id=case.id,
                                  stripe_invoice_id=invoice, stripe_charge_id=f"ch_{MARK}",
                                  attempted_at=now, decline_code="insufficient_funds",
                                  created_at=now))
        session.add(Message(account_id=account_id, case_id=case.id, message_id=f"msg_{MARK}",
                            kind="payment_failed", subject=f"subject {MARK}", created_at=now))
    endpoint = create_endpoint(services.sessions, SecretBox.from_settings(services.settings),
                               services.clock, account_id, f"https://{MARK}.example/hook")
    # Version numbers count per account, and the walk's own changes give the second account
    # versions of its own: the first account's is aimed at a number the walk cannot reach.
    for n in range(POLICY_VERSIONS):
        replace_policy(services.sessions, services.clock, account_id=account_id,
                       document={"name": f"policy {n} {MARK}"}, author="test")
    experiment = start_experiment(services.sessions, services.clock, account_id=account_id,
                                  plan=ExperimentPlan(f"experiment {MARK}", 1, 2),
                                  actor="test")
    return {"invoice_id": invoice, "case_id": str(case.id),
            "endpoint_id": str(endpoint.endpoint.id), "number": str(POLICY_VERSIONS),
            "experiment_id": str(experiment.id)}


def first_account_rows(services) -> str:
    """Every row of every table that belongs to the first account, as text."""
    account_id = services.settings.account_id
    rows = []
    with services.db_engine.connect() as connection:
        for table in sorted(inspect(connection).get_table_names()):
            columns = {c["name"] for c in inspect(connection).get_columns(table)}
            if "account_id" not in columns or table == "audit_entry":
                continue
            rows += [f"{table}: {tuple(row)}" for row in connection.execute(
                text(f'SELECT * FROM "{table}" WHERE account_id = :a ORDER BY 1'),
                {"a": account_id})]
    return "\n".join(rows)


def test_a_second_accounts_token_sees_and_changes_nothing_of_the_first(api, tokens,
                                                                      services):
    names = seed_first_account(services)
    tokens_of_first = [t["prefix"] for t in api.get("/v1/tokens", headers=tokens.owner).json()]
    names["token_id"] = str(api.get("/v1/tokens", headers=tokens.owner).json()[0]["id"])
    names["account_id"] = services.settings.account_id
    before = first_account_rows(services)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    walked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(NOT_TOKEN_ROUTES):
            continue
        walk(operation, names, tokens.other, secrets=[MARK, *tokens_of_first])
        walked += 1
    assert walked >= 3
    assert first_account_rows(services) == before


def walk(operation, names: dict[str, str], headers: dict[str, str], secrets: list[str]) -> None:
    parameters = [p.name for p in operation.path_parameters]
    unknown = [name for name in parameters if name not in names]
    # A new route whose path names an object this test cannot aim at the first account fails
    # here, so the walk keeps covering every route.
    assert not unknown, f"{operation.method} {operation.path}: name {unknown} in this test"

    @WALK
    @given(case=operation.as_strategy(path_parameters={p: names[p] for p in parameters}))
    def sees_nothing(case):
        answer = case.call(headers=headers)
        assert answer.status_code < 500, (operation.path, answer.text)
        if parameters:
            assert answer.status_code in (404, 422), (operation.path, answer.status_code)
        # The second account's token is the one used: it is never refused as unknown.
        assert answer.status_code != 401, (operation.path, answer.text)
        shown = answer.text or ""
        assert not any(secret in shown for secret in secrets), (operation.path, shown)

    sees_nothing()
