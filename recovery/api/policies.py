"""``/v1/policies``: the caller's account's policy as one JSON document (retry fields, segments,
communication, offers, branding), its versions, rollback, and a candidate's preview.

An invalid document answers 422 with every wrong field (``{"error", "field_errors": [{"loc",
"msg"}]}``) and changes nothing. Reads need the ``read`` scope, changes ``write``; the preview
changes nothing, so ``read`` is enough.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field

from recovery.accounts.tokens import Caller
from recovery.api.auth import require_read, require_write
from recovery.api.errors import ERROR_RESPONSES
from recovery.engine.policy_versions import PolicyVersionInfo, replace_policy, rollback_policy
from recovery.reports.policies import (
    PolicyPreview,
    active_policy,
    policy_version,
    policy_versions,
    preview_policy,
)
from recovery.scoring.evaluation import Interval
from recovery.wiring import Services

DOCUMENT_EXAMPLE = {
    "offsets_days": [1, 4, 8, 14, 21], "max_retries": 5, "timing": "fixed",
    "segments": [{"name": "annual plans", "match": {"plan_interval": "year",
                                                    "amount_min": 10000},
                  "policy": {"offsets_days": [1, 2, 3, 5, 8, 13], "max_retries": 6}}],
    "communication": {"max_per_case": 4},
}
DOCUMENT = Body(..., description="The whole policy document: the retry fields at the top level, "
                "and the sections segments, communication, offers and branding.",
                examples=[DOCUMENT_EXAMPLE])
VERSION_NUMBER = Path(..., ge=1, description="The version's number (1, 2, ...)")


class VersionSummary(BaseModel):
    number: int
    author: str
    created_at: datetime
    note: str | None


class VersionOut(VersionSummary):
    document: dict[str, Any]


class ActivePolicyOut(BaseModel):
    version: int | None = Field(description="null: not changed since versions are kept")
    document: dict[str, Any]
    author: str | None
    created_at: datetime | None


class IntervalOut(BaseModel):
    estimate: float | None
    low: float | None
    high: float | None


class PreviewOut(BaseModel):
    estimate: float | None = Field(description="estimated 30-day recovery rate (doubly robust); "
                                   "null when it cannot be estimated, with the reason")
    low: float | None = Field(description="95% bootstrap interval, lower end")
    high: float | None
    reason: str | None
    cases: int
    matched: int
    effective_sample_size: float
    logged_rate: float | None = Field(description="what the account's policy recovered of the "
                                      "same cases")
    outcome_model: str | None
    estimators: dict[str, IntervalOut] | None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _interval(interval: Interval) -> IntervalOut:
    return IntervalOut(estimate=_finite(interval.estimate), low=_finite(interval.low),
                       high=_finite(interval.high))


def _version(info: PolicyVersionInfo) -> VersionOut:
    return VersionOut(number=info.number, author=info.author, created_at=info.created_at,
                      note=info.note, document=info.document)


def _preview(found: PolicyPreview) -> PreviewOut:
    estimators = {name: _interval(interval) for name, interval in found.estimators.items()} \
        if found.estimators else None
    return PreviewOut(estimate=found.estimate, low=found.low, high=found.high,
                      reason=found.reason, cases=found.cases, matched=found.matched,
                      effective_sample_size=found.effective_sample_size,
                      logged_rate=found.logged_rate, outcome_model=found.outcome_model,
                      estimators=estimators)


def build_policies_router(services: Services) -> APIRouter:
    router = APIRouter(prefix="/v1/policies", tags=["policies"], responses=ERROR_RESPONSES)

    @router.get("", response_model=ActivePolicyOut)
    def read_policy(caller: Caller = Depends(require_read)) -> ActivePolicyOut:
        active = active_policy(services.sessions, account_id=caller.account_id)
        version = active.version
        return ActivePolicyOut(version=version.number if version else None,
                               document=active.document,
                               author=version.author if version else None,
                               created_at=version.created_at if version else None)

    @router.put("", response_model=VersionOut)
    def put_policy(document: dict[str, Any] = DOCUMENT,
                   note: str | None = Query(None, max_length=500),
                   caller: Caller = Depends(require_write)) -> VersionOut:
        return _version(replace_policy(services.sessions, services.clock,
                                       account_id=caller.account_id, document=document,
                                       author=caller.actor, note=note))

    @router.get("/versions", response_model=list[VersionSummary])
    def read_versions(caller: Caller = Depends(require_read)) -> list[VersionSummary]:
        return [VersionSummary(number=v.number, author=v.author, created_at=v.created_at,
                               note=v.note)
                for v in policy_versions(services.sessions, account_id=caller.account_id)]

    @router.get("/versions/{number}", response_model=VersionOut)
    def read_version(number: int = VERSION_NUMBER,
                     caller: Caller = Depends(require_read)) -> VersionOut:
        return _version(policy_version(services.sessions, account_id=caller.account_id,
                                       number=number))

    @router.post("/versions/{number}/rollback", response_model=VersionOut)
    def rollback(number: int = VERSION_NUMBER,
                 caller: Caller = Depends(require_write)) -> VersionOut:
        return _version(rollback_policy(services.sessions, services.clock,
                                        account_id=caller.account_id, number=number,
                                        author=caller.actor))

    @router.post("/preview", response_model=PreviewOut)
    def preview(document: dict[str, Any] = DOCUMENT,
                caller: Caller = Depends(require_read)) -> PreviewOut:
        return _preview(preview_policy(services.sessions, account_id=caller.account_id,
                                       document=document))

    return router
