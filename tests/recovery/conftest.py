"""Fixtures shared by the engine's end-to-end tests: Stripe stubbed at the HTTP edge, the real
app to post signed webhooks to, and a real HTTP server receiving outbound webhooks."""

from __future__ import annotations

import pytest
import respx
from fastapi.testclient import TestClient

from recovery.app import create_app
from tests.recovery.outbound_receiver import Receiver
from tests.recovery.stripe_stub import StripeStub


@pytest.fixture
def stub():
    stripe = StripeStub()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        # Requests to this machine reach the tests' own servers (the outbound webhook receiver).
        router.route(host="127.0.0.1").pass_through()
        stripe.install(router)
        yield stripe


@pytest.fixture
def receiver():
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def client(services):
    with TestClient(create_app(services, run_worker=False)) as test_client:
        yield test_client
