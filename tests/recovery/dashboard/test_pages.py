"""The dashboard's pages, signed in: the overview's figures and charts, the case list's search
and filters, a case's timeline, the policy editor, and one account never seeing another's."""

from __future__ import annotations

import json
import re

import pytest

from recovery.reports.policies import active_policy
from tests.recovery.dashboard.conftest import csrf_token, sign_in
from tests.recovery.dashboard.seed import (
    EXHAUSTED_INVOICE,
    OPEN_INVOICE,
    OTHER_INVOICE,
    RECOVERED_INVOICE,
)


def figures_on(page_html: str) -> dict[str, dict]:
    blocks = re.findall(r'<script type="application/json" id="([^"]+)-figure">(.*?)</script>',
                        page_html, re.S)
    return {chart_id: json.loads(body) for chart_id, body in blocks}


def case_links(page_html: str) -> list[str]:
    return re.findall(r'href="/dashboard/cases/([^"]+)"', page_html)


def test_the_overview_shows_the_rates_revenue_and_a_chart_per_breakdown(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    page = dashboard.get("/dashboard/", params={"days": 30, "within": 30}).text
    # Three cases of the account: one recovered (100.00 of 162.00 due).
    assert re.search(r'id="rate-count">33\.3%<', page)
    assert re.search(r'id="rate-amount">61\.7%<', page)
    assert re.search(r'id="recovered-revenue">\$100\.00<', page)
    figures = figures_on(page)
    assert set(figures) == {"chart-curve", "chart-decline_class", "chart-card_brand",
                            "chart-country", "chart-channel", "chart-policy"}
    curve = figures["chart-curve"]["data"][0]
    assert curve["y"][2] == 0 and curve["y"][3] > 0.33  # recovered on its third day
    brands = figures["chart-card_brand"]["data"][0]
    assert list(brands["x"]) == ["mastercard", "visa"]
    assert list(brands["y"]) == [1.0, 0.0]
    # The first failure's card country, from the reports' cohort.
    assert list(figures["chart-country"]["data"][0]["x"]) == ["FR", "US"]


def test_the_overview_period_leaves_out_older_failures(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    page = dashboard.get("/dashboard/", params={"days": 7}).text
    assert "2 of 2 cases" not in page and "1 of 2 cases" in page


def test_a_bad_period_is_a_clear_422_page(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    answer = dashboard.get("/dashboard/", params={"days": "lots"})
    assert answer.status_code == 422
    assert "days" in answer.text and "<html" in answer.text


def test_the_case_list_searches_and_filters_within_the_account(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    page = dashboard.get("/dashboard/cases").text
    assert sorted(case_links(page)) == sorted([OPEN_INVOICE, RECOVERED_INVOICE,
                                               EXHAUSTED_INVOICE])
    assert "3 cases" in page
    assert case_links(dashboard.get("/dashboard/cases", params={"q": "MC"}).text) == [
        RECOVERED_INVOICE]
    by_brand = dashboard.get("/dashboard/cases", params={"card_brand": "visa", "status": "open",
                                                         "q": "", "customer": ""}).text
    assert case_links(by_brand) == [OPEN_INVOICE] and "1 case<" in by_brand
    by_customer = dashboard.get("/dashboard/cases", params={"customer": f"cus_{OPEN_INVOICE}"})
    assert case_links(by_customer.text) == [OPEN_INVOICE]
    assert case_links(dashboard.get("/dashboard/cases", params={"q": "other"}).text) == []


def test_the_case_list_pages_to_older_cases(dashboard, tokens, monkeypatch):
    from recovery.dashboard.pages import cases

    monkeypatch.setattr(cases, "PAGE_SIZE", 2)
    sign_in(dashboard, tokens.owner)
    first = dashboard.get("/dashboard/cases", params={"q": "in_"}).text
    older = re.search(r'href="(/dashboard/cases\?[^"]+)" id="older"', first)
    assert older and "q=in_" in older.group(1)  # the search goes on to the older page
    second = dashboard.get(older.group(1).replace("&amp;", "&")).text
    seen = case_links(first) + case_links(second)
    assert len(case_links(first)) == 2 and 'id="older"' not in second
    assert sorted(seen) == sorted([OPEN_INVOICE, RECOVERED_INVOICE, EXHAUSTED_INVOICE])


def test_a_case_timeline_shows_attempts_actions_messages_offers_and_the_scorers_reasons(
        dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    page = dashboard.get(f"/dashboard/cases/{OPEN_INVOICE}").text
    timeline = page[page.index('id="timeline"'):]
    for shown in ("insufficient_funds (retry) on visa", "retry [scheduled]",
                  "smart: chance 31% (best 33%)", "message payment_failed by email [sent]",
                  "Your payment did not go through", "offer discount [shown]",
                  "10% off for 2 months", "Why this time: account scorer v3", "31.0%",
                  "hour_of_day +0.042", "propensity 0.925"):
        assert shown in timeline, shown
    assert timeline.index("charge by stripe") < timeline.index("message payment_failed")


def test_another_accounts_case_is_not_found(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    answer = dashboard.get(f"/dashboard/cases/{OTHER_INVOICE}")
    assert answer.status_code == 404
    assert "no recovery case" in answer.text
    assert "amex" not in answer.text and "cus_in_other_account" not in answer.text


def test_the_second_account_sees_only_its_own_case(dashboard, tokens):
    sign_in(dashboard, tokens.other)
    assert case_links(dashboard.get("/dashboard/cases").text) == [OTHER_INVOICE]
    assert dashboard.get(f"/dashboard/cases/{OPEN_INVOICE}").status_code == 404


def test_an_invalid_policy_shows_every_field_error_and_changes_nothing(dashboard, tokens,
                                                                      services):
    sign_in(dashboard, tokens.owner)
    csrf = csrf_token(dashboard.get("/dashboard/policies").text)
    bad = '{"offsets_days": [9, 3], "timing": "sometimes"}'
    answer = dashboard.post("/dashboard/policies", data={"csrf_token": csrf, "document": bad,
                                                         "do": "save"})
    assert answer.status_code == 422
    errors = answer.text[answer.text.index('id="field-errors"'):]
    assert "<code>offsets_days</code>: must increase" in errors
    assert "<code>timing</code>: must be" in errors
    assert "sometimes" in answer.text  # the text typed stays in the editor
    stored = active_policy(services.sessions, account_id=services.settings.account_id)
    assert stored.document["timing"] == "fixed"


def test_text_that_is_not_json_is_a_field_error_too(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    csrf = csrf_token(dashboard.get("/dashboard/policies").text)
    answer = dashboard.post("/dashboard/policies", data={"csrf_token": csrf,
                                                         "document": '{"offsets_days": ['})
    assert answer.status_code == 422
    assert "not valid JSON" in answer.text


def save_policy(dashboard, document: str):
    csrf = csrf_token(dashboard.get("/dashboard/policies").text)
    return dashboard.post("/dashboard/policies", data={"csrf_token": csrf, "document": document,
                                                       "do": "save"}, follow_redirects=False)


def version_rows(page_html: str) -> list[str]:
    table = page_html[page_html.index('id="versions"'):]
    return re.findall(r'<td class="num">(\d+)</td>', table[:table.index("</table>")])


def test_a_valid_policy_is_saved_as_a_new_version(dashboard, tokens, services):
    sign_in(dashboard, tokens.owner)
    answer = save_policy(dashboard, '{"offsets_days": [2, 5, 9], "max_retries": 3}')
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/policies?saved=1")
    page = dashboard.get(answer.headers["location"]).text
    assert "Saved as version 1" in page and version_rows(page) == ["1"]
    stored = active_policy(services.sessions, account_id=services.settings.account_id)
    assert (stored.document["offsets_days"], stored.version.author) == (
        [2, 5, 9], f"token:{tokens.owner_id}")


def test_rolling_back_makes_an_old_version_the_policy_again(dashboard, tokens, services):
    sign_in(dashboard, tokens.owner)
    save_policy(dashboard, '{"offsets_days": [2, 5, 9], "max_retries": 3}')
    save_policy(dashboard, '{"offsets_days": [1, 2], "max_retries": 2}')
    csrf = csrf_token(dashboard.get("/dashboard/policies").text)
    answer = dashboard.post("/dashboard/policies/versions/1/rollback",
                            data={"csrf_token": csrf}, follow_redirects=False)
    assert answer.headers["location"] == "/dashboard/policies?saved=3"
    assert version_rows(dashboard.get("/dashboard/policies").text) == ["3", "2", "1"]
    stored = active_policy(services.sessions, account_id=services.settings.account_id)
    assert stored.document["offsets_days"] == [2, 5, 9] and stored.version.number == 3


def test_rolling_back_to_a_version_that_does_not_exist_is_refused_on_a_page(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    csrf = csrf_token(dashboard.get("/dashboard/policies").text)
    for number, status in (("7", 404), (str(2**31), 422)):  # past 32 bits: refused unread
        answer = dashboard.post(f"/dashboard/policies/versions/{number}/rollback",
                                data={"csrf_token": csrf})
        assert answer.status_code == status and "<html" in answer.text


def test_a_policy_field_error_names_its_path(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    answer = save_policy(dashboard, '{"segments": [{"name": "annual", "match": '
                                    '{"amount_min": -5}, "policy": {"max_retries": 2}}]}')
    assert answer.status_code == 422
    assert "<code>segments[0].match.amount_min</code>" in answer.text


def test_a_read_only_token_may_preview_but_not_save(dashboard, tokens):
    sign_in(dashboard, tokens.reader)
    csrf = csrf_token(dashboard.get("/dashboard/policies").text)
    document = '{"offsets_days": [2, 5]}'
    preview = dashboard.post("/dashboard/policies", data={"csrf_token": csrf,
                                                          "document": document,
                                                          "do": "preview"})
    assert preview.status_code == 200 and 'id="preview"' in preview.text
    save = dashboard.post("/dashboard/policies", data={"csrf_token": csrf,
                                                       "document": document, "do": "save"})
    assert save.status_code == 403
    assert "write" in save.text


def test_the_sandbox_page_is_there_only_with_a_sandbox(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    assert dashboard.get("/dashboard/sandbox").status_code == 404
    assert 'href="/dashboard/sandbox"' not in dashboard.get("/dashboard/").text


def test_plotly_js_is_served_from_the_installed_package(dashboard):
    answer = dashboard.get("/dashboard/static/plotly.min.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert "plotly.js" in answer.text[:500].lower()
    assert dashboard.get("/dashboard/static/..%2Fpyproject.toml").status_code == 404


def test_pages_load_no_script_from_elsewhere(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    page = dashboard.get("/dashboard/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/dashboard/static/") for source in sources)


def experiment_row(page_html: str, experiment_id: str | None = None) -> tuple[str, str]:
    wanted = experiment_id or r"\d+"
    found = re.search(rf'<tr id="experiment-({wanted})">(.*?)</tr>', page_html, re.S)
    return found.group(1), found.group(2)


def test_an_experiment_is_started_then_stopped_and_its_treatment_adopted(dashboard, tokens,
                                                                         services):
    sign_in(dashboard, tokens.owner)
    save_policy(dashboard, '{"offsets_days": [7, 14, 21]}')
    save_policy(dashboard, '{"timing": "smart"}')
    csrf = csrf_token(dashboard.get("/dashboard/experiments").text)
    started = dashboard.post("/dashboard/experiments", data={
        "csrf_token": csrf, "name": "weekly vs smart", "control": "1", "treatment": "2",
        "treatment_percent": "30"})
    assert started.status_code == 200  # followed to the list
    experiment_id, row = experiment_row(started.text)
    assert f"experiment {experiment_id} is running" in started.text
    assert "weekly vs smart" in row and "running" in row and "30%" in row
    assert "version 1" in row and "version 2" in row and "0.0% of 0" in row
    stopped = dashboard.post(f"/dashboard/experiments/{experiment_id}/stop",
                             data={"csrf_token": csrf})
    assert "stopped" in experiment_row(stopped.text, experiment_id)[1]
    adopted = dashboard.post(f"/dashboard/experiments/{experiment_id}/promote",
                             data={"csrf_token": csrf, "arm": "treatment"})
    assert "the treatment arm is the policy now, as version 3" in adopted.text
    assert "promoted" in experiment_row(adopted.text, experiment_id)[1]
    stored = active_policy(services.sessions, account_id=services.settings.account_id)
    assert (stored.version.number, stored.document["timing"]) == (3, "smart")


def test_an_experiment_that_cannot_work_is_refused_on_the_page(dashboard, tokens):
    sign_in(dashboard, tokens.owner)
    csrf = csrf_token(dashboard.get("/dashboard/experiments").text)
    for fields, problem in (({"control": "3", "treatment": "3"}, "different versions"),
                            ({"control": "1", "treatment": "2"}, "no policy version 1"),
                            ({"control": "1", "treatment": "two"}, "whole number"),
                            ({"control": "1", "treatment": str(2**31)}, "from 1 to")):
        answer = dashboard.post("/dashboard/experiments", data={
            "csrf_token": csrf, "name": "refused", **fields})
        assert answer.status_code == 422
        assert problem in answer.text
        assert "No experiment yet" in answer.text


def test_a_read_only_token_cannot_start_experiments(dashboard, tokens):
    sign_in(dashboard, tokens.reader)
    page = dashboard.get("/dashboard/experiments").text
    assert 'id="new-experiment"' not in page
    answer = dashboard.post("/dashboard/experiments", data={
        "csrf_token": csrf_token(page), "name": "x", "control": "1", "treatment": "2"})
    assert answer.status_code == 403


def experiment_with_cases(services) -> int:
    """A running experiment: two control cases (one of 1000 recovered, one of 3000 not), three
    treatment cases (3000 and 1000 recovered, 1000 not), all in dollars."""
    from datetime import timedelta

    from recovery.rules.experiment_assignment import Arm
    from tests.recovery.reports.test_experiments import add_case, add_experiment, assign

    account, now = services.settings.account_id, services.clock.now()
    with services.sessions() as session:
        experiment = add_experiment(session, account, now, name="weekly vs smart")
        for customer, arm, status, amount in (
                ("cus_a", Arm.control, "recovered", 1000),
                ("cus_b", Arm.control, "exhausted", 3000),
                ("cus_c", Arm.treatment, "recovered", 3000),
                ("cus_d", Arm.treatment, "recovered", 1000),
                ("cus_e", Arm.treatment, "exhausted", 1000)):
            assign(session, experiment, customer, arm)
            add_case(session, account, customer, now + timedelta(hours=1), status=status,
                     amount=amount, ended_after=timedelta(days=1))
        session.commit()
        return experiment.id


def test_an_experiments_page_shows_each_arms_rates_with_their_intervals(dashboard, tokens,
                                                                       services):
    from recovery.reports.experiments import experiment_results

    experiment_id = experiment_with_cases(services)
    with services.sessions() as session:
        results = experiment_results(session, services.settings.account_id, experiment_id)
    sign_in(dashboard, tokens.reader)
    listed = dashboard.get("/dashboard/experiments").text
    assert f'href="/dashboard/experiments/{experiment_id}"' in listed
    assert "by amount: 25.0% / 80.0%" in experiment_row(listed, str(experiment_id))[1]
    page = dashboard.get(f"/dashboard/experiments/{experiment_id}")
    assert page.status_code == 200
    rate_row = re.search(r'<tr id="arm-amount-rate">(.*?)</tr>', page.text, re.S).group(1)
    interval = results.treatment.amount.interval
    assert "25.0%" in rate_row and "80.0%" in rate_row
    assert f"{interval.low:.1%} to {interval.high:.1%}" in rate_row
    assert "+55.0 points" in page.text  # 80% - 25% by amount
    assert "$10.00 of $40.00" in page.text and "$40.00 of $50.00" in page.text
    bars = figures_on(page.text)["chart-arms"]["data"]
    assert [trace["name"] for trace in bars] == ["by count", "by amount"]
    assert list(bars[1]["y"]) == [0.25, 0.8]
    assert bars[1]["error_y"]["array"][1] == pytest.approx(interval.high - 0.8)
    assert bars[1]["error_y"]["arrayminus"][1] == pytest.approx(0.8 - interval.low)


def test_another_accounts_experiment_is_not_found(dashboard, tokens, services):
    experiment_id = experiment_with_cases(services)
    sign_in(dashboard, tokens.other)
    answer = dashboard.get(f"/dashboard/experiments/{experiment_id}")
    assert answer.status_code == 404 and "weekly vs smart" not in answer.text
    assert dashboard.get("/dashboard/experiments/0").status_code == 422
    assert dashboard.get(f"/dashboard/experiments/{2**31}").status_code == 422


def test_a_group_with_no_case_in_the_amounts_currency_has_no_bar_by_amount(dashboard, tokens,
                                                                           services):
    """A euro case under policy version 7: counted by count, but the amounts are in dollars
    (the main currency), so version 7 has no rate by amount, not a rate of 0."""
    from datetime import timedelta

    from models import RecoveryCase
    from recovery.runtime.db import transaction

    with transaction(services.sessions) as session:
        failed = services.clock.now() - timedelta(hours=1)
        session.add(RecoveryCase(
            account_id=services.settings.account_id, stripe_invoice_id="in_euro",
            stripe_customer_id="cus_euro", amount_due=5000, currency="eur", status="open",
            policy_version=7, first_failed_at=failed, created_at=failed, updated_at=failed))
    sign_in(dashboard, tokens.owner)
    page = dashboard.get("/dashboard/", params={"days": 30, "within": 30}).text
    by_count, by_amount = figures_on(page)["chart-policy"]["data"]
    assert list(by_amount["x"]) == ["7", "default"]
    assert (list(by_count["y"]), list(by_amount["y"])) == ([0.0, 1 / 3], [None, 100 / 162])
