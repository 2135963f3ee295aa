"""Signing in to the dashboard: tokens refused and accepted, the cookie's flags, and a session
that ends when its token is revoked."""

from __future__ import annotations

from http.cookies import SimpleCookie

from fastapi.testclient import TestClient

from recovery.accounts.tokens import revoke_token
from recovery.app import create_app
from recovery.dashboard.login_session import COOKIE_NAME
from tests.recovery.dashboard.conftest import csrf_token, sign_in


def cookie_attributes(response) -> dict[str, str | bool]:
    header = next(value for value in response.headers.get_list("set-cookie")
                  if value.startswith(COOKIE_NAME))
    morsel = SimpleCookie(header)[COOKIE_NAME]
    return {key: morsel[key] for key in ("httponly", "samesite", "secure", "path", "max-age")}


def test_pages_send_visitors_who_have_not_signed_in_to_the_login_page(dashboard, tokens):
    for page in ("/dashboard/", "/dashboard/cases", "/dashboard/policies",
                 "/dashboard/cases/in_open_visa", "/dashboard/experiments"):
        answer = dashboard.get(page, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")


def test_an_unknown_token_is_refused_and_signs_nobody_in(dashboard, tokens):
    answer = sign_in(dashboard, "rcv_" + "x" * 43)
    assert answer.status_code == 401
    assert "unknown or has been revoked" in answer.text
    assert dashboard.get("/dashboard/", follow_redirects=False).status_code == 303


def test_a_revoked_token_is_refused(dashboard, tokens, services):
    revoke_token(services.sessions, services.clock, account_id=services.settings.account_id,
                 token_id=tokens.owner_id, actor="test")
    assert sign_in(dashboard, tokens.owner).status_code == 401


def test_a_good_token_signs_in_and_the_overview_names_its_account(dashboard, tokens, services):
    answer = sign_in(dashboard, tokens.owner)
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/")
    overview = dashboard.get("/dashboard/")
    assert overview.status_code == 200
    assert services.settings.account_id in overview.text


def test_revoking_the_token_ends_the_session_it_signed_in(dashboard, tokens, services):
    sign_in(dashboard, tokens.owner)
    assert dashboard.get("/dashboard/cases").status_code == 200
    revoke_token(services.sessions, services.clock, account_id=services.settings.account_id,
                 token_id=tokens.owner_id, actor="test")
    answer = dashboard.get("/dashboard/cases", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")


def test_the_session_cookie_is_httponly_samesite_and_scoped_to_the_dashboard(dashboard,
                                                                             tokens):
    flags = cookie_attributes(sign_in(dashboard, tokens.owner))
    assert flags["httponly"] is True
    assert flags["samesite"].lower() == "lax"
    assert flags["path"] == "/dashboard"
    assert flags["secure"] == ""  # served over plain http here
    assert int(flags["max-age"]) == 12 * 3600


def test_the_cookie_is_secure_when_the_public_url_is_https(settings, clock):
    from recovery.wiring import build_services

    https = settings.model_copy(update={"public_base_url": "https://pay.example.com"})
    services = build_services(https, clock)
    try:
        with TestClient(create_app(services, run_worker=False),
                        base_url="https://pay.example.com") as client:
            form = client.get("/dashboard/login")
    finally:
        services.close()
    assert cookie_attributes(form)["secure"] is True


def test_the_cookie_keeps_no_token_and_a_tampered_one_is_ignored(dashboard, tokens):
    answer = sign_in(dashboard, tokens.owner)
    cookie = dashboard.cookies.get(COOKIE_NAME)
    assert tokens.owner not in cookie
    assert tokens.owner not in answer.headers["set-cookie"]
    payload, rest = cookie.split(".", 1)
    dashboard.cookies.set(COOKIE_NAME, payload[:-2] + "AA." + rest, path="/dashboard")
    assert dashboard.get("/dashboard/", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    page = dashboard.get("/dashboard/")
    answer = dashboard.post("/dashboard/logout", data={"csrf_token": csrf_token(page.text)},
                            follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/login")
    assert dashboard.get("/dashboard/", follow_redirects=False).status_code == 303


def test_signing_in_changes_the_csrf_token(dashboard, tokens):
    before = csrf_token(dashboard.get("/dashboard/login").text)
    sign_in(dashboard, tokens.owner)
    assert csrf_token(dashboard.get("/dashboard/").text) != before


def test_without_a_session_secret_the_dashboard_says_what_to_set(settings, clock):
    from recovery.wiring import build_services

    services = build_services(settings.model_copy(update={"session_secret": None}), clock)
    try:
        with TestClient(create_app(services, run_worker=False)) as client:
            answer = client.get("/dashboard/login")
    finally:
        services.close()
    assert answer.status_code == 503
    assert "RECOVERY_SESSION_SECRET" in answer.text
