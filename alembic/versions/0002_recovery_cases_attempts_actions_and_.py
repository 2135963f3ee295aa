"""recovery cases, attempts, actions and messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('recovery_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_subscription_id', sa.String(length=255), nullable=True),
    sa.Column('amount_due', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('waiting_for', sa.String(length=20), nullable=False),
    sa.Column('recovered_by', sa.String(length=20), nullable=True),
    sa.Column('card_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('card_brand', sa.String(length=20), nullable=True),
    sa.Column('payment_method_id', sa.String(length=255), nullable=True),
    sa.Column('customer_timezone', sa.String(length=64), nullable=False),
    sa.Column('hosted_invoice_url', sa.Text(), nullable=True),
    sa.Column('stripe_next_payment_attempt', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_decline_class', sa.String(length=32), nullable=True),
    sa.Column('last_reason', sa.Text(), nullable=True),
    sa.Column('engine_retries', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('card_changed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_recovery_case_account_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_case')),
    sa.UniqueConstraint('account_id', 'stripe_invoice_id', name=op.f('uq_recovery_case_account_id_stripe_invoice_id'))
    )
    with op.batch_alter_table('recovery_case', schema=None) as batch_op:
        batch_op.create_index('ix_recovery_case_account_id_status', ['account_id', 'status'], unique=False)
        batch_op.create_index('ix_recovery_case_account_id_stripe_customer_id', ['account_id', 'stripe_customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recovery_case_stripe_subscription_id'), ['stripe_subscription_id'], unique=False)

    op.create_table('charge_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_charge_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('attempted_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=10), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('card_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('card_brand', sa.String(length=20), nullable=True),
    sa.Column('card_funding', sa.String(length=10), nullable=True),
    sa.Column('card_country', sa.String(length=2), nullable=True),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('decline_code', sa.String(length=64), nullable=True),
    sa.Column('advice_code', sa.String(length=32), nullable=True),
    sa.Column('network_decline_code', sa.String(length=8), nullable=True),
    sa.Column('network_advice_code', sa.String(length=8), nullable=True),
    sa.Column('outcome_type', sa.String(length=32), nullable=True),
    sa.Column('outcome_reason', sa.String(length=64), nullable=True),
    sa.Column('decline_class', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('features', sa.JSON(), nullable=True),
    sa.Column('scorer_version', sa.String(length=64), nullable=True),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_charge_attempt_account_id_account')),
    sa.ForeignKeyConstraint(['case_id'], ['recovery_case.id'], name=op.f('fk_charge_attempt_case_id_recovery_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charge_attempt')),
    sa.UniqueConstraint('account_id', 'stripe_charge_id', name=op.f('uq_charge_attempt_account_id_stripe_charge_id'))
    )
    with op.batch_alter_table('charge_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_charge_attempt_account_id_card_fingerprint_attempted_at', ['account_id', 'card_fingerprint', 'attempted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_attempt_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_attempt_stripe_invoice_id'), ['stripe_invoice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_attempt_stripe_payment_intent_id'), ['stripe_payment_intent_id'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('to_address', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('sent_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_message_account_id_account')),
    sa.ForeignKeyConstraint(['case_id'], ['recovery_case.id'], name=op.f('fk_message_case_id_recovery_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message')),
    sa.UniqueConstraint('action_id', name=op.f('uq_message_action_id'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_case_id'), ['case_id'], unique=False)

    op.create_table('scheduled_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('due_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('claimed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('tries', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_scheduled_action_account_id_account')),
    sa.ForeignKeyConstraint(['case_id'], ['recovery_case.id'], name=op.f('fk_scheduled_action_case_id_recovery_case')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_action')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_scheduled_action_idempotency_key'))
    )
    with op.batch_alter_table('scheduled_action', schema=None) as batch_op:
        batch_op.create_index('ix_scheduled_action_case_id_status', ['case_id', 'status'], unique=False)
        batch_op.create_index('ix_scheduled_action_status_due_at', ['status', 'due_at'], unique=False)

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('paused_reason', sa.Text(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('paused_reason')
        batch_op.drop_column('policy')

    with op.batch_alter_table('scheduled_action', schema=None) as batch_op:
        batch_op.drop_index('ix_scheduled_action_status_due_at')
        batch_op.drop_index('ix_scheduled_action_case_id_status')

    op.drop_table('scheduled_action')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_case_id'))

    op.drop_table('message')
    with op.batch_alter_table('charge_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_charge_attempt_stripe_payment_intent_id'))
        batch_op.drop_index(batch_op.f('ix_charge_attempt_stripe_invoice_id'))
        batch_op.drop_index(batch_op.f('ix_charge_attempt_case_id'))
        batch_op.drop_index('ix_charge_attempt_account_id_card_fingerprint_attempted_at')

    op.drop_table('charge_attempt')
    with op.batch_alter_table('recovery_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_case_stripe_subscription_id'))
        batch_op.drop_index('ix_recovery_case_account_id_stripe_customer_id')
        batch_op.drop_index('ix_recovery_case_account_id_status')

    op.drop_table('recovery_case')
