"""``/v1/webhook-endpoints``: made with a write token (the secret shown once), listed, removed;
bad URLs and event types are 422; each change leaves an audit row."""

from __future__ import annotations


def test_create_list_and_remove(api, tokens):
    made = api.post("/v1/webhook-endpoints", headers=tokens.owner,
                    json={"url": "https://crm.example/hooks", "event_types": ["case.recovered"]})
    assert made.status_code == 201, made.text
    created = made.json()
    assert created["secret"].startswith("whsec_") and created["event_types"] == ["case.recovered"]
    listed = api.get("/v1/webhook-endpoints", headers=tokens.reader).json()
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    assert api.get("/v1/webhook-endpoints", headers=tokens.other).json() == []
    assert api.delete(f"/v1/webhook-endpoints/{created['id']}",
                      headers=tokens.other).status_code == 404
    assert api.delete(f"/v1/webhook-endpoints/{created['id']}",
                      headers=tokens.reader).status_code == 403
    assert api.delete(f"/v1/webhook-endpoints/{created['id']}",
                      headers=tokens.owner).status_code == 204
    assert api.get("/v1/webhook-endpoints", headers=tokens.owner).json() == []
    actions = [e["action"] for e in api.get("/v1/audit", headers=tokens.owner).json()]
    assert actions[:2] == ["webhook_endpoint.remove", "webhook_endpoint.create"]
    assert created["secret"] not in api.get("/v1/audit", headers=tokens.owner).text


def test_bad_input_is_422_and_stores_nothing(api, tokens):
    for body in ({"url": "http://crm.example/hooks"}, {"url": "ftp://x"},
                 {"url": "https://crm.example", "event_types": ["case.lost"]},
                 {"url": "https://crm.example/\x00"}, {}):
        answer = api.post("/v1/webhook-endpoints", headers=tokens.owner, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"]
    assert api.get("/v1/webhook-endpoints", headers=tokens.owner).json() == []
