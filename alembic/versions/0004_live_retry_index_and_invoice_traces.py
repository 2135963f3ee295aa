"""one live step per case, traces of finished invoices and canceled subscriptions, account time zone

Revision ID: 0004_engine
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0004_engine'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_STEP = "kind IN ('retry', 'end_dunning') AND status IN ('scheduled', 'claimed')"
# Before the index exists a case may hold several live steps (a retry scheduled beside one that
# was running): keep the running one, else the newest, and cancel the others.
CANCEL_EXTRA_LIVE_STEPS = """
UPDATE scheduled_action SET status = 'canceled', finished_at = CURRENT_TIMESTAMP
WHERE kind IN ('retry', 'end_dunning') AND status = 'scheduled'
  AND EXISTS (SELECT 1 FROM scheduled_action AS other
              WHERE other.case_id = scheduled_action.case_id
                AND other.kind IN ('retry', 'end_dunning')
                AND (other.status = 'claimed'
                     OR (other.status = 'scheduled' AND other.id > scheduled_action.id)))
"""


def upgrade() -> None:
    op.create_table('finished_invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('stripe_event_id', sa.String(length=255), nullable=True),
    sa.Column('finished_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_finished_invoice_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finished_invoice')),
    sa.UniqueConstraint('account_id', 'stripe_invoice_id', name=op.f('uq_finished_invoice_account_id_stripe_invoice_id'))
    )
    op.create_table('canceled_subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=False),
    sa.Column('stripe_event_id', sa.String(length=255), nullable=True),
    sa.Column('canceled_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_canceled_subscription_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canceled_subscription')),
    sa.UniqueConstraint('account_id', 'stripe_subscription_id', name=op.f('uq_canceled_subscription_account_id_stripe_subscription_id'))
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))

    op.execute(CANCEL_EXTRA_LIVE_STEPS)
    op.create_index('ix_scheduled_action_live_step', 'scheduled_action', ['case_id'], unique=True,
                    sqlite_where=sa.text(LIVE_STEP), postgresql_where=sa.text(LIVE_STEP))


def downgrade() -> None:
    op.drop_index('ix_scheduled_action_live_step', table_name='scheduled_action')
    # In place (SQLite 3.35+ drops a column itself): copying the table, batch mode's way, would
    # drop the old ``account`` table under the rows that still refer to it.
    with op.batch_alter_table('account', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('timezone')
    op.drop_table('canceled_subscription')
    op.drop_table('finished_invoice')
