"""``/v1/metrics/...``: the reports' figures for the token's account only, as JSON or CSV with the
same rows, a complete OpenAPI description, and a 422 (never a 500) for a bad query."""

from __future__ import annotations

import csv
import io

import pytest

from tests.recovery.api.conftest import OTHER_ACCOUNT
from tests.recovery.reports import hand_built

OCTOBER = "start=2026-10-01&end=2026-11-01&within=30"
# Each route, a query on it, and the key of its list of rows in the JSON answer.
ROUTES = [
    ("recovery-rate", f"{OCTOBER}&by=decline_class", "rows"),
    ("recovery-rate", OCTOBER, "rows"),
    ("recovery-curve", OCTOBER, "points"),
    ("recovered-by", OCTOBER, "rows"),
    ("effort", OCTOBER, None),
    ("at-risk", OCTOBER, "rows"),
    ("offenders", OCTOBER, "rows"),
    ("channels", OCTOBER, "rows"),
    ("templates", OCTOBER, "rows"),
]


@pytest.fixture
def data(services, tokens, clock):
    hand_built.build(services.sessions, services.settings.account_id, clock.now(),
                     other_account=OTHER_ACCOUNT)
    return tokens


def get(api, path: str, headers: dict, **extra):
    return api.get(f"/v1/metrics/{path}", headers={**headers, **extra})


def test_the_recovery_rate_by_decline_class(api, data):
    answer = get(api, f"recovery-rate?{OCTOBER}&by=decline_class", data.reader)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["total"] == {"group": "all", "cases": 10, "recovered": 4, "rate": 0.4,
                             "currency": "usd", "amount_due": 44400, "recovered_amount": 6700,
                             "amount_rate": 6700 / 44400}
    assert [(r["group"], r["cases"], r["recovered"], r["amount_due"]) for r in body["rows"]] == [
        ("new_payment_method", 2, 1, 30000), ("retry", 6, 3, 13200), ("stop", 1, 0, 1200),
        ("unknown", 1, 0, 0)]
    assert body["period"] == {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z",
                              "within_days": 30}
    assert (body["account_id"], body["by"]) == ("acct_default", "decline_class")


def test_every_route_answers_json_and_the_same_rows_as_csv(api, data):
    for path, query, rows_key in ROUTES:
        body = get(api, f"{path}?{query}", data.reader).json()
        expected = body[rows_key] if rows_key else [body]
        for answer in (get(api, f"{path}?{query}&format=csv", data.reader),
                       get(api, f"{path}?{query}", data.reader, Accept="text/csv")):
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers["content-type"].startswith("text/csv")
            lines = list(csv.DictReader(io.StringIO(answer.text)))
            assert len(lines) == len(expected) > 0, path
            for line, row in zip(lines, expected, strict=True):
                for column, cell in line.items():
                    assert _same(cell, row[column]), (path, column, cell, row[column])


def _same(cell: str, value) -> bool:
    if value is None:
        return cell == ""
    if isinstance(value, bool | str):
        return cell == str(value) or cell.replace("+00:00", "Z") == value
    return float(cell) == value


def test_the_default_period_is_the_90_days_up_to_today(api, data):
    # The clock is at 2026-11-02: C9 (09-28) and C10 (11-01) are in it too.
    body = get(api, "recovery-rate", data.reader).json()
    assert body["total"]["cases"] == 12
    assert body["period"]["end"] == "2026-11-03T00:00:00Z"
    assert body["period"]["within_days"] == 30


def test_each_account_sees_only_its_own_cases(api, data):
    mine = get(api, f"at-risk?{OCTOBER}", data.reader).json()
    theirs = get(api, f"at-risk?{OCTOBER}&currency=gbp", data.other).json()
    assert [r["stripe_invoice_id"] for r in mine["rows"]] == ["in_C7", "in_C6"]
    assert [r["stripe_invoice_id"] for r in theirs["rows"]] == ["in_B2"]
    other_rate = get(api, f"recovery-rate?{OCTOBER}", data.other).json()
    assert (other_rate["account_id"], other_rate["total"]["cases"]) == (OTHER_ACCOUNT, 2)
    # One case each; gbp is the main currency on a tie with usd, and B2 still owes 777 in it.
    offenders = get(api, f"offenders?{OCTOBER}", data.other).json()["rows"]
    assert [(r["stripe_customer_id"], r["failed_invoices"], r["amount_outstanding"])
            for r in offenders] == [("cus_z", 1, 777), ("cus_a", 1, 0)]


@pytest.mark.parametrize("query", [
    "start=2026-13-01", "start=yesterday", "end=2026-02-30", "within=0", "within=366",
    "within=ten", "by=planet", "format=xml", "currency=dollars", "start=2026-11-01&end=2026-10-01",
    "start=2026-10-01&end=2026-10-01", "end=0001-01-01", "start=9999-12-31"])
def test_a_bad_query_is_a_422(api, data, query):
    answer = get(api, f"recovery-rate?{query}", data.reader)
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("path", ["at-risk?limit=0", "offenders?limit=501"])
def test_a_limit_out_of_range_is_a_422(api, data, path):
    assert get(api, path, data.reader).status_code == 422


def test_a_token_is_needed(api, data):
    assert api.get(f"/v1/metrics/recovery-rate?{OCTOBER}").status_code == 401


def test_the_openapi_document_describes_every_answer(api):
    document = api.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    paths = {path: item["get"] for path, item in document["paths"].items()
             if path.startswith("/v1/metrics/")}
    assert len(paths) == 8
    for path, operation in paths.items():
        content = operation["responses"]["200"]["content"]
        reference = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert schemas[reference]["properties"], path
        assert "text/csv" in content, path
        assert "422" in operation["responses"], path
    rate = schemas["RecoveryRateOut"]["properties"]
    assert set(rate) == {"account_id", "period", "by", "currency", "total", "rows"}
    assert {"attempt_number", "channel", "segment", "week"} <= set(schemas["Grouping"]["enum"])
