"""backfill progress

Revision ID: 0012_backfill_progress
Revises: 0011_api_tokens_audit
Create Date: 2026-12-14

``backfill_run``: each import of an account's past invoices from Stripe (``recovery backfill``),
with its window, the last invoice it fully imported and its counts, so that a run stopped by
Stripe trouble or by the operator resumes from there instead of reading every page again.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0012_backfill_progress'
down_revision: str | None = '0011_api_tokens_audit'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'backfill_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('window_start', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('cursor', sa.String(length=255), nullable=True),
        sa.Column('reached_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('invoices', sa.Integer(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('cases', sa.Integer(), nullable=False),
        sa.Column('skipped', sa.Integer(), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('started_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_backfill_run_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_backfill_run')),
    )
    with op.batch_alter_table('backfill_run', schema=None) as batch_op:
        batch_op.create_index('ix_backfill_run_account_id_started_at',
                              ['account_id', 'started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('backfill_run', schema=None) as batch_op:
        batch_op.drop_index('ix_backfill_run_account_id_started_at')
    op.drop_table('backfill_run')
