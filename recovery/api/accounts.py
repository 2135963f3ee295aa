"""``/v1/accounts``: connecting, listing and removing Stripe accounts, for the operator.

An account's tokens belong to the account, so making one needs a credential from before it: the
operator token (``require_operator``; without one configured these routes answer 404). Connecting
answers the account and its first read+write API token, shown this once. The key sent to connect
is never answered, logged or echoed in a validation error (``api/errors.py``).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, SecretStr

from recovery.accounts.connect import connect_connect_account, connect_with_key, new_account_id
from recovery.accounts.listing import AccountInfo, list_accounts
from recovery.accounts.removal import remove_account
from recovery.accounts.tokens import create_token
from recovery.api.auth import require_operator
from recovery.api.errors import ERROR_RESPONSES, ErrorOut
from recovery.errors import AccountRejected
from recovery.wiring import Services, account_desk

FIRST_TOKEN_SCOPES = ("read", "write")
RESPONSES = ERROR_RESPONSES | {
    401: {"model": ErrorOut, "description": "No operator token, or a wrong one"},
    404: {"model": ErrorOut, "description": "No operator token is configured (these routes are "
                                            "off), or no such account"},
    409: {"model": ErrorOut, "description": "Connected already, in the other mode, or the "
                                            "settings' account"},
    503: {"model": ErrorOut, "description": "Stripe unavailable, or no secrets key configured"},
}


class ConnectAccountIn(BaseModel):
    """Exactly one of ``key`` and ``connect_account``."""

    key: SecretStr | None = Field(
        None, description="The account's secret (sk_) or restricted (rk_) key; stored sealed, "
                          "never shown again")
    connect_account: str | None = Field(
        None, description="A Connect account (acct_...) connected to the platform")
    name: str = ""
    id: str | None = Field(None, description="Our id for the account (default: a new one)")


class ConnectedAccountOut(BaseModel):
    id: str
    name: str
    livemode: bool
    connection: str = Field(description="key | connect | settings")
    stripe_account_id: str | None
    webhook_endpoint_id: str | None
    created_at: datetime
    removed_at: datetime | None


class NewAccountOut(BaseModel):
    account: ConnectedAccountOut
    token: str = Field(description="A read+write API token for the account, shown only now")
    token_id: int
    token_scopes: list[str]


def account_out(info: AccountInfo) -> ConnectedAccountOut:
    return ConnectedAccountOut(id=info.id, name=info.name, livemode=info.livemode,
                               connection=info.connection,
                               stripe_account_id=info.stripe_account_id,
                               webhook_endpoint_id=info.webhook_endpoint_id,
                               created_at=info.created_at, removed_at=info.removed_at)


def build_accounts_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1/accounts", tags=["accounts"], responses=RESPONSES)

    @router.post("", response_model=NewAccountOut, status_code=201)
    def connect(body: ConnectAccountIn, actor: str = Depends(require_operator)) -> NewAccountOut:
        info = _connect(services, body, actor)
        token_info, token = create_token(
            services.sessions, services.clock, account_id=info.id, name="first token",
            scopes=FIRST_TOKEN_SCOPES, actor=actor)
        return NewAccountOut(account=account_out(info), token=token, token_id=token_info.id,
                             token_scopes=list(token_info.scopes))

    @router.get("", response_model=list[ConnectedAccountOut])
    def read_accounts(include_removed: bool = Query(False),
                      _actor: str = Depends(require_operator)) -> list[ConnectedAccountOut]:
        return [account_out(info) for info in
                list_accounts(services.sessions, include_removed=include_removed)]

    @router.delete("/{account_id}", response_model=ConnectedAccountOut)
    def delete_account(account_id: str,
                       actor: str = Depends(require_operator)) -> ConnectedAccountOut:
        return account_out(remove_account(account_desk(services), account_id=account_id,
                                          actor=actor))

    return router


def _connect(services: Services, body: ConnectAccountIn, actor: str) -> AccountInfo:
    if (body.key is None) == (body.connect_account is None):
        raise AccountRejected("give either key or connect_account")
    desk, account_id = account_desk(services), body.id or new_account_id()
    if body.key is not None:
        return connect_with_key(desk, account_id=account_id, key=body.key.get_secret_value(),
                                name=body.name, actor=actor)
    return connect_connect_account(desk, account_id=account_id,
                                   stripe_account_id=body.connect_account, name=body.name,
                                   actor=actor)
