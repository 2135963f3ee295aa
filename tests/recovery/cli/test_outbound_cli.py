"""``recovery outbound add|list|remove`` against a real database: the secret is printed once,
never listed, and a URL that cannot be used is refused."""

from __future__ import annotations

import re

from cryptography.fernet import Fernet
from typer.testing import CliRunner

from recovery.cli import app


def run(services, *args: str):
    # The sandbox (no Stripe key) allows http to this machine; secrets are sealed with this key.
    env = {"RECOVERY_DATABASE_URL": services.settings.database_url,
           "RECOVERY_STRIPE_API_KEY": "", "RECOVERY_SECRETS_KEY": Fernet.generate_key().decode()}
    return CliRunner().invoke(app, list(args), env=env)


def test_add_list_and_remove_an_endpoint(services):
    added = run(services, "outbound", "add", "http://127.0.0.1:9000/crm",
                "--event", "case.recovered", "--event", "case.exhausted")
    assert added.exit_code == 0, added.output
    endpoint_id = re.search(r"endpoint (\d+):", added.output).group(1)
    secret = re.search(r"(whsec_\S+)", added.output).group(1)
    assert "case.recovered, case.exhausted" in added.output

    listed = run(services, "outbound", "list")
    assert listed.exit_code == 0 and "127.0.0.1:9000/crm" in listed.output
    assert secret not in listed.output

    assert run(services, "outbound", "remove", endpoint_id).exit_code == 0
    assert "127.0.0.1:9000/crm" not in run(services, "outbound", "list").output
    assert run(services, "outbound", "remove", endpoint_id).exit_code == 1


def test_add_refuses_what_cannot_be_used(services):
    insecure = run(services, "outbound", "add", "http://crm.example.com/hooks")
    assert insecure.exit_code == 2 and "must be https" in insecure.output
    unknown = run(services, "outbound", "add", "https://crm.example.com/hooks",
                  "--event", "invoice.paid")
    assert unknown.exit_code == 2 and "unknown event types invoice.paid" in unknown.output
    assert "crm.example.com" not in run(services, "outbound", "list").output
