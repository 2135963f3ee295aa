"""The audit trail: one row per admin action, written in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from models import AuditEntry
from recovery.runtime.clock import Clock


def record_change(session: Session, clock: Clock, *, account_id: str, actor: str, action: str,
                  target: str = "", before: dict[str, Any] | None = None,
                  after: dict[str, Any] | None = None) -> None:
    """Add the audit row to ``session``: the caller's commit writes it with the change itself.
    ``before``/``after`` must hold no secret (callers pass what a reader may see)."""
    session.add(AuditEntry(account_id=account_id, actor=actor, action=action, target=target,
                           before=before, after=after, at=clock.now()))
