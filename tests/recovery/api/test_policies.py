"""``/v1/policies``: read and replace the policy as one validated document, every change a
version with its author and time and an audit row, rollback, and the preview of a candidate;
a wrong document is 422 with every wrong field and changes nothing; another account's token
sees none of it."""

from __future__ import annotations

from sqlmodel import func, select

from models import Account, AuditEntry, PolicyVersion
from recovery.rules.problems import dotted
from tests.ml.synthetic import write_log

WEEKLY = {"name": "weekly", "offsets_days": [2, 7, 14], "max_retries": 3,
          "segments": [{"name": "annual", "match": {"plan_interval": "year"},
                        "policy": {"offsets_days": [1, 3], "max_retries": 2}}],
          "communication": {"max_per_case": 4}}


def state(services) -> tuple[dict | None, int, int]:
    """The active document, how many versions and audit rows there are (every account)."""
    with services.sessions() as session:
        return (session.get(Account, services.settings.account_id).policy,
                session.scalar(select(func.count()).select_from(PolicyVersion)),
                session.scalar(select(func.count()).select_from(AuditEntry)))


def test_a_new_account_reads_the_defaults_without_a_version(api, tokens):
    answer = api.get("/v1/policies", headers=tokens.reader)
    assert answer.status_code == 200
    body = answer.json()
    assert body["version"] is None and body["author"] is None
    assert body["document"]["offsets_days"] == [1.0, 4.0, 8.0, 14.0, 21.0]
    assert api.get("/v1/policies/versions", headers=tokens.reader).json() == []


def test_put_makes_a_version_that_get_reads_back(api, tokens, services):
    put = api.put("/v1/policies", json=WEEKLY, params={"note": "weekly cadence"},
                  headers=tokens.owner)
    assert put.status_code == 200, put.text
    version = put.json()
    assert (version["number"], version["note"]) == (1, "weekly cadence")
    assert version["author"].startswith("token:")
    assert version["created_at"].startswith(services.clock.now().date().isoformat())
    active = api.get("/v1/policies", headers=tokens.reader).json()
    assert active["version"] == 1 and active["document"] == version["document"]
    assert active["document"]["segments"][0]["policy"] == {"offsets_days": [1.0, 3.0],
                                                           "max_retries": 2}
    assert active["document"]["communication"]["max_per_case"] == 4
    assert state(services)[0] == version["document"]


def test_an_invalid_policy_gets_422_with_every_field_error_and_changes_nothing(api, tokens,
                                                                               services):
    api.put("/v1/policies", json=WEEKLY, headers=tokens.owner)
    before = state(services)
    wrong = {**WEEKLY, "max_retries": -1, "timing": "clever", "colour": "red",
             "segments": [{"name": "annual", "match": {"plan_interval": "fortnight",
                                                      "amount_min": -1},
                           "policy": {"offsets_days": [3, 1], "window_days": 5}}],
             "communication": {"channels": ["fax"]}}
    answer = api.put("/v1/policies", json=wrong, headers=tokens.owner)
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"].startswith("invalid policy")
    # Located like FastAPI's own errors: in the body, as a path of keys and indexes.
    assert all(e["loc"][0] == "body" for e in body["field_errors"])
    assert ["body", "segments", 0, "match", "amount_min"] in [e["loc"] for e in
                                                             body["field_errors"]]
    assert {dotted(e["loc"][1:]) for e in body["field_errors"]} == {
        "max_retries", "timing", "colour", "segments[0].match.plan_interval",
        "segments[0].match.amount_min", "segments[0].policy.offsets_days",
        "segments[0].policy.window_days", "communication.channels"}
    assert all(e["msg"] for e in body["field_errors"])
    assert state(services) == before
    assert api.get("/v1/policies", headers=tokens.owner).json()["version"] == 1


def test_a_body_that_is_no_json_object_is_422_too(api, tokens, services):
    before = state(services)
    for body in ([1, 2], "weekly"):
        assert api.put("/v1/policies", json=body, headers=tokens.owner).status_code == 422
    malformed = api.put("/v1/policies", content=b"{not json",
                        headers={**tokens.owner, "Content-Type": "application/json"})
    assert malformed.status_code == 422
    assert state(services) == before


def test_a_read_only_token_cannot_change_the_policy(api, tokens, services):
    assert api.put("/v1/policies", json=WEEKLY, headers=tokens.reader).status_code == 403
    api.put("/v1/policies", json=WEEKLY, headers=tokens.owner)
    rollback = api.post("/v1/policies/versions/1/rollback", headers=tokens.reader)
    assert rollback.status_code == 403
    assert state(services)[1] == 1


def test_versions_list_and_rollback_with_audit_rows(api, tokens, services):
    api.put("/v1/policies", json=WEEKLY, headers=tokens.owner)
    api.put("/v1/policies", json={"max_retries": 2, "offsets_days": [1, 2]},
            headers=tokens.owner)
    listed = api.get("/v1/policies/versions", headers=tokens.reader).json()
    assert [v["number"] for v in listed] == [2, 1] and "document" not in listed[0]
    one = api.get("/v1/policies/versions/1", headers=tokens.reader).json()
    assert one["document"]["name"] == "weekly"
    back = api.post("/v1/policies/versions/1/rollback", headers=tokens.owner)
    assert back.status_code == 200
    assert (back.json()["number"], back.json()["note"]) == (3, "rollback to 1")
    assert api.get("/v1/policies", headers=tokens.reader).json()["document"] == one["document"]
    audit = api.get("/v1/audit", headers=tokens.owner).json()
    assert [e["action"] for e in audit[:3]] == ["policy.rollback", "policy.replace",
                                                "policy.replace"]
    assert audit[0]["before"]["version"] == 2 and audit[0]["after"]["version"] == 3
    assert audit[0]["after"]["document"] == one["document"]
    assert api.get("/v1/policies/versions/9", headers=tokens.reader).status_code == 404
    assert api.get("/v1/policies/versions/0", headers=tokens.reader).status_code == 422


def test_another_accounts_token_sees_none_of_the_policy(api, tokens, services):
    api.put("/v1/policies", json=WEEKLY, headers=tokens.owner)
    assert api.get("/v1/policies/versions", headers=tokens.other).json() == []
    assert api.get("/v1/policies/versions/1", headers=tokens.other).status_code == 404
    other = api.get("/v1/policies", headers=tokens.other).json()
    assert other["version"] is None and other["document"]["name"] == "default"
    assert api.post("/v1/policies/versions/1/rollback",
                    headers=tokens.other).status_code == 404
    # Its own change makes its own version 1 and leaves the first account's alone.
    assert api.put("/v1/policies", json={"max_retries": 1, "offsets_days": [5]},
                   headers=tokens.other).json()["number"] == 1
    assert api.get("/v1/policies", headers=tokens.owner).json()["document"]["name"] == "weekly"
    assert all(e["action"] != "policy.replace" or e["target"] == "policy:1"
               for e in api.get("/v1/audit", headers=tokens.other).json())
    assert len(api.get("/v1/audit", headers=tokens.other).json()) == 2  # token + its change


def test_preview_says_why_there_is_no_estimate_on_an_empty_history(api, tokens, services):
    answer = api.post("/v1/policies/preview", json=WEEKLY, headers=tokens.reader)
    assert answer.status_code == 200
    body = answer.json()
    assert body["estimate"] is None and body["low"] is None and "no engine retries" in \
        body["reason"]
    smart = api.post("/v1/policies/preview", json={"timing": "smart"}, headers=tokens.reader)
    assert smart.json()["estimate"] is None and "smart" in smart.json()["reason"]
    wrong = api.post("/v1/policies/preview", json={"max_retries": "x"}, headers=tokens.reader)
    assert wrong.status_code == 422
    assert wrong.json()["field_errors"][0]["loc"] == ["body", "max_retries"]
    assert state(services)[1] == 0


def test_preview_estimates_a_candidate_with_an_interval_on_logged_history(api, tokens,
                                                                         services):
    with services.sessions() as session:
        write_log(session, services.settings.account_id, customers=40, months=5, seed=3)
        session.commit()
    before = state(services)
    body = api.post("/v1/policies/preview", json={"offsets_days": [2, 5, 9], "max_retries": 3},
                    headers=tokens.reader).json()
    assert body["reason"] is None and body["cases"] > 50
    assert 0 <= body["low"] <= body["estimate"] <= body["high"] <= 1
    assert body["estimators"]["doubly_robust"]["estimate"] == body["estimate"]
    assert 0 < body["logged_rate"] < 1 and "trained now" in body["outcome_model"]
    # A segment that retries its cases differently moves the estimate.
    segmented = api.post("/v1/policies/preview", json={
        "offsets_days": [2, 5, 9], "max_retries": 3,
        "segments": [{"name": "all", "match": {}, "policy": {"offsets_days": [1],
                                                             "max_retries": 1}}]},
        headers=tokens.reader).json()
    assert segmented["estimate"] is not None and segmented["estimate"] != body["estimate"]
    # The other account has no history: no number is invented for it.
    assert api.post("/v1/policies/preview", json={}, headers=tokens.other).json()[
        "estimate"] is None
    assert state(services) == before


def test_the_openapi_document_describes_every_policy_route(api):
    paths = api.get("/openapi.json").json()["paths"]
    for route, method in (("/v1/policies", "put"), ("/v1/policies/versions", "get"),
                          ("/v1/policies/versions/{number}/rollback", "post"),
                          ("/v1/policies/preview", "post")):
        assert "200" in paths[route][method]["responses"]
        assert "$ref" in str(paths[route][method]["responses"]["200"])
