"""churn-prevention offers

Revision ID: 0009_offers
Revises: 0007_messaging_delivery
Create Date: 2026-12-10

``offer``: each offer shown to a customer with a case, whether it was accepted and applied through
Stripe, what it gives up and whether its case recovered. One live (not expired) offer per case.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0009_offers'
down_revision: str | None = '0007_messaging_delivery'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_OFFER = sa.text("status <> 'expired'")


def upgrade() -> None:
    op.create_table(
        'offer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
        sa.Column('stripe_subscription_id', sa.String(length=255), nullable=True),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('percent_off', sa.Integer(), nullable=False),
        sa.Column('months', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('message_kind', sa.String(length=32), nullable=True),
        sa.Column('shown_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('accepted_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('applied_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('coupon_id', sa.String(length=255), nullable=True),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('revenue_given_up', sa.Integer(), nullable=False),
        sa.Column('recovered', sa.Boolean(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_offer_account_id_account')),
        sa.ForeignKeyConstraint(['case_id'], ['recovery_case.id'],
                                name=op.f('fk_offer_case_id_recovery_case')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_offer')),
    )
    with op.batch_alter_table('offer', schema=None) as batch_op:
        batch_op.create_index('ix_offer_account_id_shown_at', ['account_id', 'shown_at'],
                              unique=False)
        batch_op.create_index('ix_offer_case_id_live', ['case_id'], unique=True,
                              sqlite_where=LIVE_OFFER, postgresql_where=LIVE_OFFER)


def downgrade() -> None:
    with op.batch_alter_table('offer', schema=None) as batch_op:
        batch_op.drop_index('ix_offer_case_id_live')
        batch_op.drop_index('ix_offer_account_id_shown_at')
    op.drop_table('offer')
