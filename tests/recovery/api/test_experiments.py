"""``/v1/experiments``: start an experiment between two policy versions, read it with per-arm
results and the sequential test, stop it, promote a winner; wrong input is 422 and changes
nothing; another account's token gets 404 on every route and changes nothing."""

from __future__ import annotations

from sqlmodel import func, select

from models import Account, AuditEntry, Experiment, PolicyVersion, RecoveryCase
from recovery.engine.experiments import assign_customers, find_experiment
from recovery.runtime.db import transaction

START = {"name": "shorter schedule", "control_version": 1, "treatment_version": 2,
         "treatment_percent": 30}


def two_versions(api, tokens) -> None:
    for offsets in ([1, 4, 8], [2, 5]):
        answer = api.put("/v1/policies", json={"offsets_days": offsets,
                                               "max_retries": len(offsets)},
                         headers=tokens.owner)
        assert answer.status_code == 200, answer.text


def state(services) -> tuple:
    """Experiments with their status, versions and audit rows (every account)."""
    with services.sessions() as session:
        return (sorted((e.id, e.status, e.winner) for e in session.exec(select(Experiment))),
                session.scalar(select(func.count()).select_from(PolicyVersion)),
                session.scalar(select(func.count()).select_from(AuditEntry)),
                session.get(Account, services.settings.account_id).policy)


def recovered_cases(services, experiment_id: int, count: int) -> None:
    """Cases of assigned customers, every one recovered."""
    account_id, now = services.settings.account_id, services.clock.now()
    with transaction(services.sessions) as session:
        experiment = find_experiment(session, account_id, experiment_id)
        customers = {f"cus_{n}" for n in range(count)}
        assign_customers(session, experiment, customers, now)
        for customer in sorted(customers):
            session.add(RecoveryCase(
                account_id=account_id, stripe_invoice_id=f"in_{customer}",
                stripe_customer_id=customer, amount_due=1000, first_failed_at=now,
                created_at=now, updated_at=now, closed_at=now, status="recovered"))


def test_start_read_stop_and_promote(api, tokens, services):
    two_versions(api, tokens)
    started = api.post("/v1/experiments", json=START, headers=tokens.owner)
    assert started.status_code == 201, started.text
    body = started.json()
    assert (body["status"], body["control_version"], body["treatment_version"],
            body["treatment_percent"]) == ("running", 1, 2, 30)
    assert body["created_by"].startswith("token:")
    experiment_id = body["id"]
    recovered_cases(services, experiment_id, 40)
    read = api.get(f"/v1/experiments/{experiment_id}", headers=tokens.reader)
    assert read.status_code == 200, read.text
    results = read.json()["results"]
    control, treatment = results["control"], results["treatment"]
    assert control["cases"] + treatment["cases"] == 40
    assert control["customers"] == control["cases"] > treatment["cases"] > 0
    assert control["recovery_rate"] == 1.0 and control["amount_recovered"] == \
        1000 * control["cases"]
    assert 0 < control["recovery_rate_interval"]["low"] < 1.0
    # Every case recovered: the rate by amount is 1 and its interval reaches below it.
    assert results["currency"] == "usd"
    assert (control["amount_rate"], control["amount_cases"]) == (1.0, control["cases"])
    assert 0 < control["amount_rate_interval"]["low"] < control["amount_rate_interval"]["high"] \
        == 1.0
    assert results["amount_rate_difference"]["estimate"] == 0.0
    assert results["amount_rate_difference"]["method"] == "delta-method-mover"
    assert control["policy_version"] == 1 and treatment["policy_version"] == 2
    assert results["sequential"]["looks"] > 0 and not results["sequential"]["stop"]
    assert results["recovery_rate_difference"]["method"]
    listed = api.get("/v1/experiments", headers=tokens.reader).json()
    assert [e["id"] for e in listed] == [experiment_id]

    stopped = api.post(f"/v1/experiments/{experiment_id}/stop", headers=tokens.owner)
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert stopped.json()["stopped_at"] is not None
    promoted = api.post(f"/v1/experiments/{experiment_id}/promote", json={"arm": "control"},
                        headers=tokens.owner)
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["status"], promoted.json()["winner"],
            promoted.json()["policy_version"]) == ("promoted", "control", 3)
    active = api.get("/v1/policies", headers=tokens.reader).json()
    assert active["version"] == 3 and active["document"]["offsets_days"] == [1.0, 4.0, 8.0]
    with services.sessions() as session:
        actions = [row.action for row in session.exec(select(AuditEntry))]
    assert {"experiment.start", "experiment.stop", "experiment.promote",
            "policy.promote"} <= set(actions)


def test_invalid_input_is_422_and_changes_nothing(api, tokens, services):
    two_versions(api, tokens)
    before = state(services)
    for body in ({**START, "treatment_version": 1}, {**START, "treatment_percent": 0},
                 {**START, "treatment_percent": 100}, {**START, "name": ""},
                 {**START, "control_version": "one"}, {"name": "no versions"}):
        answer = api.post("/v1/experiments", json=body, headers=tokens.owner)
        assert answer.status_code == 422, (body, answer.text)
        assert "error" in answer.json() or "detail" in answer.json()
    assert api.post("/v1/experiments", json={**START, "treatment_version": 7},
                    headers=tokens.owner).status_code == 404
    assert state(services) == before
    experiment_id = api.post("/v1/experiments", json=START, headers=tokens.owner).json()["id"]
    before = state(services)
    assert api.post("/v1/experiments", json={**START, "name": "second"},
                    headers=tokens.owner).status_code == 422
    assert api.post(f"/v1/experiments/{experiment_id}/promote", json={"arm": "both"},
                    headers=tokens.owner).status_code == 422
    assert api.post("/v1/experiments", json=START, headers=tokens.reader).status_code == 403
    assert state(services) == before


def test_another_accounts_token_cannot_see_or_change_an_experiment(api, tokens, services):
    two_versions(api, tokens)
    experiment_id = api.post("/v1/experiments", json=START, headers=tokens.owner).json()["id"]
    before = state(services)
    assert api.get("/v1/experiments", headers=tokens.other).json() == []
    for method, path, body in (
            ("get", f"/v1/experiments/{experiment_id}", None),
            ("post", f"/v1/experiments/{experiment_id}/stop", None),
            ("post", f"/v1/experiments/{experiment_id}/promote", {"arm": "treatment"})):
        answer = api.request(method, path, json=body, headers=tokens.other)
        assert answer.status_code == 404, (path, answer.text)
        assert "shorter schedule" not in answer.text
    # The other account's versions 1 and 2 do not exist: it cannot aim at the first's.
    assert api.post("/v1/experiments", json=START, headers=tokens.other).status_code == 404
    assert state(services) == before


def test_every_route_is_documented(api):
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/v1/experiments", "/v1/experiments/{experiment_id}",
                 "/v1/experiments/{experiment_id}/stop",
                 "/v1/experiments/{experiment_id}/promote"):
        for operation in paths[path].values():
            assert "application/json" in operation["responses"][
                next(code for code in operation["responses"] if code.startswith("2"))]["content"]
            assert "404" in operation["responses"]


def test_the_results_schema_documents_the_amount_intervals(api):
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    arm, results = schemas["ArmOut"]["properties"], schemas["ResultsOut"]["properties"]
    for field in ("amount_cases", "amount_due", "amount_recovered", "amount_rate",
                  "amount_rate_interval"):
        assert field in arm and arm[field].get("description"), field
    interval = {"$ref": "#/components/schemas/ExperimentIntervalOut"}
    assert interval in arm["amount_rate_interval"]["anyOf"]
    assert results["amount_rate_difference"]["$ref"] == "#/components/schemas/DifferenceOut"
    assert results["currency"]["description"]
