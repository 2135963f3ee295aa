"""The OpenAPI document is the contract: schemathesis drives every operation with generated
input (bounded examples) and checks that nothing answers a 500 and every answer matches its
documented status, media type and schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS

BOUNDED = settings(max_examples=25, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))
# Input whose validity is cryptographic (a Stripe signature, a signed link) cannot be written
# in a schema: a generated one is rightly refused, so "valid data is accepted" is not asked there.
# Nor for the metrics, whose period must start before it ends: a rule between two parameters,
# which a schema cannot state (each date alone is checked, and every refusal is a 422).
SIGNED_INPUT = ("/webhooks/stripe", "/links/")
RULES_A_SCHEMA_CANNOT_STATE = (*SIGNED_INPUT, "/v1/metrics/")


def _excluded_checks(path: str) -> list:
    if not path.startswith(RULES_A_SCHEMA_CANNOT_STATE):
        return []
    return [check for check in CHECKS.get_all() if check.__name__ == "positive_data_acceptance"]


def test_every_operation_keeps_its_contract(api, tokens):
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:
        _drive(operation, tokens.owner)


def _drive(operation, headers: dict[str, str]) -> None:
    excluded = _excluded_checks(operation.path)

    @BOUNDED
    @given(case=operation.as_strategy())
    def keeps_contract(case):
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    keeps_contract()
