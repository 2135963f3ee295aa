"""Every dashboard form needs its session's CSRF token: without it, or with another, it is
refused (403) and nothing changes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from recovery.reports.policies import active_policy
from tests.recovery.dashboard.conftest import csrf_token, sign_in

FORMS = [
    ("/dashboard/policies", {"document": '{"offsets_days": [3, 6]}', "do": "save"}),
    ("/dashboard/logout", {}),
]


@pytest.mark.parametrize(("path", "fields"), FORMS)
def test_a_form_without_the_csrf_token_is_refused(dashboard, tokens, services, path, fields):
    sign_in(dashboard, tokens.owner)
    answer = dashboard.post(path, data=fields, follow_redirects=False)
    assert answer.status_code == 403
    assert "another site" in answer.text
    assert dashboard.get("/dashboard/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize(("path", "fields"), FORMS)
def test_a_form_with_a_wrong_csrf_token_is_refused(dashboard, tokens, path, fields):
    sign_in(dashboard, tokens.owner)
    answer = dashboard.post(path, data={**fields, "csrf_token": "not-the-sessions-token"},
                            follow_redirects=False)
    assert answer.status_code == 403


def test_another_sessions_csrf_token_is_refused(dashboard, tokens, services):
    with TestClient(dashboard.app) as someone_else:
        sign_in(someone_else, tokens.owner)
        theirs = csrf_token(someone_else.get("/dashboard/policies").text)
    sign_in(dashboard, tokens.owner)
    answer = dashboard.post("/dashboard/policies", data={
        "document": '{"offsets_days": [3, 6]}', "do": "save", "csrf_token": theirs})
    assert answer.status_code == 403
    stored = active_policy(services.sessions, account_id=services.settings.account_id)
    assert stored.document["offsets_days"] != [3, 6]


def test_the_login_form_needs_its_csrf_token_too(dashboard, tokens):
    dashboard.get("/dashboard/login")
    answer = dashboard.post("/dashboard/login", data={"token": tokens.owner},
                            follow_redirects=False)
    assert answer.status_code == 403
    assert dashboard.get("/dashboard/", follow_redirects=False).status_code == 303
