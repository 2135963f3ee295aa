"""what the scorer's features need, and the scorer's artifacts

Revision ID: 0006_features
Revises: 0005_inbox_claimed_by
Create Date: 2026-12-03

``charge_attempt`` keeps the card's expiry; ``recovery_case`` the plan's interval;
``finished_invoice`` whose invoice it was (a customer's paid times are their payment history).
``model_version`` holds each account's trained scorer artifacts (skops bytes and metadata).
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0006_features'
down_revision: str | None = '0005_inbox_claimed_by'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('charge_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('card_exp_month', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('card_exp_year', sa.Integer(), nullable=True))
    with op.batch_alter_table('recovery_case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_interval_days', sa.Integer(), nullable=True))
    with op.batch_alter_table('finished_invoice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_customer_id', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_finished_invoice_account_id_stripe_customer_id',
                              ['account_id', 'stripe_customer_id'], unique=False)
    op.create_table(
        'model_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.String(length=64), nullable=False),
        sa.Column('artifact', sa.LargeBinary(), nullable=False),
        sa.Column('metadata', sa.JSON(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('promoted_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('replaced_version', sa.String(length=64), nullable=True),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_model_version_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_model_version')),
        sa.UniqueConstraint('account_id', 'version',
                            name=op.f('uq_model_version_account_id_version')),
    )
    with op.batch_alter_table('model_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_version_account_id'), ['account_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('model_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_version_account_id'))
    op.drop_table('model_version')
    with op.batch_alter_table('finished_invoice', schema=None) as batch_op:
        batch_op.drop_index('ix_finished_invoice_account_id_stripe_customer_id')
        batch_op.drop_column('stripe_customer_id')
    # Not a batch: on SQLite that copies the table, and dropping the old ``recovery_case``
    # breaks the foreign keys that point at it. SQLite drops a plain column in place (3.35+).
    op.execute('ALTER TABLE recovery_case DROP COLUMN plan_interval_days')
    with op.batch_alter_table('charge_attempt', schema=None) as batch_op:
        batch_op.drop_column('card_exp_year')
        batch_op.drop_column('card_exp_month')
