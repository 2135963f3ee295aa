"""inbox claims name their worker

Revision ID: 0005_inbox_claimed_by
Revises: 0004_ingest
Create Date: 2026-12-02

``webhook_event.claimed_by`` names the worker that claimed a row (``processing`` or
``fetching``), as ``scheduled_action.claimed_by`` does, so that a worker told to stop can hand
back the rows it still holds instead of leaving them until their lease runs out.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0005_inbox_claimed_by'
down_revision: str | None = '0004_ingest'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.drop_column('claimed_by')
