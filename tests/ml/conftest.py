"""A session on a migrated database of each kind, and a synthetic attempt log in it."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from recovery.runtime.db import make_engine


@pytest.fixture
def session(database_url):
    engine = make_engine(database_url, pool_size=1)
    with Session(engine) as opened:
        yield opened
    engine.dispose()
