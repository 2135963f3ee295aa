"""``recovery tokens create|list|revoke`` against a real database."""

from __future__ import annotations

from recovery.accounts.tokens import authenticate
from tests.recovery.cli.test_cli import run


def test_create_list_and_revoke(services):
    made = run(services, "tokens", "create", "--name", "growth", "--scope", "read",
               "--scope", "write")
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    caller = authenticate(services.sessions, token)
    assert caller is not None and caller.scopes == frozenset({"read", "write"})
    listed = run(services, "tokens", "list")
    assert "growth" in listed.output and token not in listed.output
    assert run(services, "tokens", "revoke", str(caller.token_id)).exit_code == 0
    assert authenticate(services.sessions, token) is None
    assert run(services, "tokens", "revoke", "999").exit_code == 2
    assert run(services, "tokens", "create", "--scope", "admin").exit_code == 2
