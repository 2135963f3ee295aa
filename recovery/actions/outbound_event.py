"""The ``outbound_event`` step: post one event to one of the account's endpoints, log the try,
and finish the action, or leave it to the runner to try again.

Every try is a row in ``outbound_delivery``, written in its own transaction as soon as the
answer is in, so the log holds each request made even if finishing the action then fails.
Delivered (2xx): the action is done. Worth trying again (5xx, 408, 429, a timeout, no
connection): ``DeliveryUnavailable``, and the runner puts the action off with backoff (a 429's
``Retry-After`` respected), up to its tries, then fails it and keeps it. Refused for good (another
4xx, a redirect, a URL the settings no longer allow): the action fails at once with an alert.

A worker that dies after the POST and before its records leaves the action claimed; once the
lease runs out it is sent again with the same ``webhook-id``, which receivers drop as a
duplicate. An endpoint removed or disabled meanwhile gets nothing: the action is canceled.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from models import ActionStatus, DeliveryOutcome, OutboundDelivery, OutboundEndpoint, OutboundEvent
from recovery.actions.outbound_post import PostResult
from recovery.actions.step_context import ClaimedAction, StepContext
from recovery.engine.case_store import ACTIONS
from recovery.errors import ConfigurationError, DeliveryUnavailable
from recovery.runtime.db import transaction

log = logging.getLogger("recovery.outbound")
REFUSED_ALERT = "ALERT: an outbound webhook endpoint refused an event"


def run_outbound_event(ctx: StepContext, claimed: ClaimedAction) -> None:
    params = claimed.action.params or {}
    with ctx.sessions() as session:
        event = session.get(OutboundEvent, params.get("outbound_event_id"))
        endpoint = session.get(OutboundEndpoint, params.get("endpoint_id"))
    if event is None or endpoint is None or not endpoint.enabled or endpoint.deleted_at:
        ctx.finish(claimed, {"skipped": "endpoint removed or disabled"}, ActionStatus.canceled)
        return
    if ctx.outbound is None:
        raise ConfigurationError("no outbound poster is wired: outbound events cannot be sent")
    result = ctx.outbound.post(endpoint.url, endpoint.secret, event.event_id, event.payload)
    log_try(ctx, claimed, event, endpoint, result)
    summary = {"event": event.event_id, "endpoint": endpoint.id, "status": result.status_code}
    if result.outcome is DeliveryOutcome.delivered:
        ctx.finish(claimed, summary)
    elif result.outcome is DeliveryOutcome.refused:
        _refused(ctx, claimed, summary, result.error or "refused")
    else:
        raise DeliveryUnavailable(f"endpoint {endpoint.id}: {result.error}",
                                  retry_after_seconds=result.retry_after_seconds)


def log_try(ctx: StepContext, claimed: ClaimedAction, event: OutboundEvent,
            endpoint: OutboundEndpoint, result: PostResult) -> None:
    """One row of the delivery log. Not fenced on the claim: the request was made either way."""
    with transaction(ctx.sessions) as session:
        session.add(OutboundDelivery(
            account_id=event.account_id, event_id=event.id, endpoint_id=endpoint.id,
            action_id=claimed.action.id, attempted_at=ctx.clock.now(),
            status_code=result.status_code, error=result.error, duration_ms=result.duration_ms,
            outcome=result.outcome.value))


def _refused(ctx: StepContext, claimed: ClaimedAction, summary: dict, error: str) -> None:
    with ctx.finishing(claimed, summary | {"failed": error[:200]},
                       ActionStatus.failed) as session:
        session.execute(update(ACTIONS).where(ACTIONS.c.id == claimed.action.id)
                        .values(last_error=error[:2000], tries=ACTIONS.c.tries + 1))
    log.error(REFUSED_ALERT, extra=summary | {"error": error[:200]})
