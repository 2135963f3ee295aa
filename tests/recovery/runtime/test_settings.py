"""Settings refuse values that would make the engine misbehave instead of failing loudly."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from recovery.runtime.settings import Settings


@pytest.mark.parametrize("field", ["ingest_batch_size", "action_batch_size", "ingest_max_tries"])
def test_batch_sizes_and_tries_must_be_positive(field):
    # A zero batch would claim nothing and the job's drain loop would never see a short batch.
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: 0})


def test_placeholder_secrets_are_refused_and_an_empty_key_means_sandbox():
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(stripe_api_key="changeme")
    assert Settings(stripe_api_key="").sandbox
    assert Settings(ingest_batch_size=1).ingest_batch_size == 1
