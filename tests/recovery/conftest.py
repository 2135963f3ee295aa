"""Fixtures shared by the engine's end-to-end tests: Stripe stubbed at the HTTP edge, and the
real app to post signed webhooks to."""

from __future__ import annotations

import pytest
import respx
from fastapi.testclient import TestClient

from recovery.app import create_app
from tests.recovery.stripe_stub import StripeStub


@pytest.fixture
def stub():
    stripe = StripeStub()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        stripe.install(router)
        yield stripe


@pytest.fixture
def client(services):
    with TestClient(create_app(services, run_worker=False)) as test_client:
        yield test_client
