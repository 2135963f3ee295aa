"""``/v1/webhook-endpoints``: where the account's outbound events (case.opened, case.recovered,
...) are sent. The signing secret is in the answer that creates an endpoint, and never again."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from models import OutboundEventType
from recovery.accounts.outbound_endpoints import (
    EndpointView,
    create_endpoint,
    list_endpoints,
    remove_endpoint,
)
from recovery.accounts.secret_box import SecretBox
from recovery.accounts.tokens import Caller
from recovery.api.auth import require_read, require_write
from recovery.api.errors import ERROR_RESPONSES
from recovery.wiring import Services


class EndpointIn(BaseModel):
    url: str = Field(max_length=2000, description="https URL that receives the events")
    event_types: list[OutboundEventType] | None = Field(
        default=None, description="the events to send; all of them when left out")


class EndpointOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    enabled: bool
    created_at: datetime


class CreatedEndpointOut(EndpointOut):
    secret: str = Field(description="whsec_...: verifies the events' signatures; shown once")


def _out(view: EndpointView) -> dict:
    return {"id": view.id, "url": view.url, "event_types": list(view.event_types),
            "enabled": view.enabled, "created_at": view.created_at}


def build_webhook_endpoints_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1/webhook-endpoints", tags=["outbound events"],
                       responses=ERROR_RESPONSES)
    settings = services.settings

    @router.get("", response_model=list[EndpointOut])
    def read_endpoints(caller: Caller = Depends(require_read)) -> list[EndpointOut]:
        return [EndpointOut(**_out(view))
                for view in list_endpoints(services.sessions, caller.account_id)]

    @router.post("", response_model=CreatedEndpointOut, status_code=201)
    def add_endpoint(body: EndpointIn,
                     caller: Caller = Depends(require_write)) -> CreatedEndpointOut:
        created = create_endpoint(
            services.sessions, SecretBox.from_settings(settings), services.clock,
            caller.account_id, body.url,
            [t.value for t in body.event_types] if body.event_types is not None else None,
            allow_local_http=settings.outbound_local_http_allowed, actor=caller.actor)
        return CreatedEndpointOut(**_out(created.endpoint), secret=created.secret)

    @router.delete("/{endpoint_id}", status_code=204)
    def delete_endpoint(endpoint_id: int, caller: Caller = Depends(require_write)) -> None:
        remove_endpoint(services.sessions, services.clock, caller.account_id, endpoint_id,
                        actor=caller.actor)

    return router
