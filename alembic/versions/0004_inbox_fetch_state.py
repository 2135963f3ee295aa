"""inbox deferrals and decline details still to read

Revision ID: 0004_ingest
Revises: 0004_actions
Create Date: 2026-11-30

``webhook_event.deferrals`` counts the times Stripe trouble put a row off: it sets the row's
backoff without using up its tries. ``charge_attempt.details_pending`` marks a failure recorded
without its decline details because Stripe could not be read then; a job fills them in later.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0004_ingest'
down_revision: str | None = '0004_actions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING_ONLY = sa.text('details_pending')


def upgrade() -> None:
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deferrals', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('charge_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details_pending', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_charge_attempt_details_pending', ['details_pending'], unique=False, postgresql_where=PENDING_ONLY, sqlite_where=PENDING_ONLY)


def downgrade() -> None:
    with op.batch_alter_table('charge_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_charge_attempt_details_pending')
        batch_op.drop_column('details_pending')

    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.drop_column('deferrals')
