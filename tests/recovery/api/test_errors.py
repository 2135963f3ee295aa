"""The error tree maps to status codes in one place: bad input is a 4xx, never a 500."""

from __future__ import annotations

import pytest

from recovery.api.errors import status_for
from recovery.errors import ExperimentError, NotFound, PolicyError, RecoveryError


@pytest.mark.parametrize(("error", "status"), [
    (ExperimentError("the treatment's share must be a whole percent from 1 to 99"), 422),
    (PolicyError("bad policy"), 422),
    (NotFound("no experiment 3 in this account"), 404),
    (RecoveryError("unexpected"), 500),
])
def test_each_error_answers_its_status(error, status):
    assert status_for(error) == status
