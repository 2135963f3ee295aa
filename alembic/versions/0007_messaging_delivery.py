"""contact preferences and used signed links

Revision ID: 0007_messaging_delivery
Revises: 0006_features
Create Date: 2026-12-05

``contact_preference`` keeps each customer's unsubscribe time and SMS opt-in (with the phone);
``link_use`` records each signed link opened, unique by the token's id (single-use links).
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0007_messaging_delivery'
down_revision: str | None = '0006_features'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'contact_preference',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('stripe_customer_id', sa.String(length=255), nullable=False),
        sa.Column('email_unsubscribed_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('sms_opt_in', sa.Boolean(), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=True),
        sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_contact_preference_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_preference')),
        sa.UniqueConstraint('account_id', 'stripe_customer_id',
                            name=op.f('uq_contact_preference_account_id_stripe_customer_id')),
    )
    op.create_table(
        'link_use',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('token_id', sa.String(length=64), nullable=False),
        sa.Column('purpose', sa.String(length=32), nullable=False),
        sa.Column('used_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_link_use_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_link_use')),
        sa.UniqueConstraint('token_id', name=op.f('uq_link_use_token_id')),
    )
    with op.batch_alter_table('link_use', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_use_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('link_use', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_link_use_account_id'))
    op.drop_table('link_use')
    op.drop_table('contact_preference')
