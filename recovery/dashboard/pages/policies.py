"""Policies: the editor (the whole policy document as JSON; saving shows every field error the
validation finds, and changes nothing then), the preview estimate before saving, and the version
history with rollback. Writes go through the engine's policy functions, as the API's do."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from recovery.dashboard.access import require_write
from recovery.dashboard.rendering import PREFIX, Pages
from recovery.engine.policy_versions import replace_policy, rollback_policy
from recovery.errors import PolicyError
from recovery.reports.policies import active_policy, policy_versions, preview_policy
from recovery.rules.problems import dotted, problems_of
from recovery.wiring import Services

MAX_DOCUMENT_CHARS = 100_000


def add_routes(router: APIRouter, pages: Pages, services: Services) -> None:
    def editor(request: Request, text: str | None = None, **context: Any) -> Response:
        account_id = pages.access.signed_in(request).account_id
        active = active_policy(services.sessions, account_id=account_id)
        shown = text if text is not None else json.dumps(active.document, indent=2)
        return pages.render(request, "policies.html", {
            "nav": "policies", "active": active, "text": shown,
            "versions": policy_versions(services.sessions, account_id=account_id),
            "saved": request.query_params.get("saved"), **context},
            status_code=422 if context.get("field_errors") else 200)

    @router.get("/policies")
    def policies_page(request: Request) -> Response:
        return editor(request)

    @router.post("/policies")
    async def save_or_preview(request: Request) -> Response:
        posted = await pages.access.posted(request, write=False)
        wants_preview = posted.field("do") == "preview"
        if not wants_preview:  # a preview changes nothing: reading is enough
            require_write(posted.visitor)
        text = posted.field("document")[:MAX_DOCUMENT_CHARS]
        caller = posted.visitor.caller
        try:
            document = _parsed(text)
            if wants_preview:
                found = preview_policy(services.sessions, account_id=caller.account_id,
                                       document=document)
                return editor(request, text, preview=found)
            saved = replace_policy(services.sessions, services.clock,
                                   account_id=caller.account_id, document=document,
                                   author=caller.actor, note=posted.field("note") or None)
        except PolicyError as error:
            return editor(request, text, field_errors=field_errors(error))
        return RedirectResponse(f"{PREFIX}/policies?saved={saved.number}", status_code=303)

    @router.post("/policies/versions/{number}/rollback")
    async def rollback(request: Request, number: int = Path(..., ge=1, le=2**31 - 1)) -> Response:
        caller = (await pages.access.posted(request)).visitor.caller
        saved = rollback_policy(services.sessions, services.clock, account_id=caller.account_id,
                                number=number, author=caller.actor)
        return RedirectResponse(f"{PREFIX}/policies?saved={saved.number}", status_code=303)


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as problem:
        raise PolicyError(f"not valid JSON: {problem}") from None


def field_errors(error: PolicyError) -> list[dict[str, str]]:
    """Each wrong field as ``{"loc": "segments[0].match", "msg": ...}``, as the API names them
    (an error naming no field is one for the whole document)."""
    return [{"loc": dotted(problem.loc), "msg": problem.msg} for problem in problems_of(error)]
