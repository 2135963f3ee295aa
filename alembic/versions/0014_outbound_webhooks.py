"""outbound webhooks

Revision ID: 0014_outbound_webhooks
Revises: 0013_metrics_indexes
Create Date: 2026-12-01

A company's CRM or ERP hears of its cases through signed webhooks: ``outbound_endpoint`` keeps the
URLs it configured (secret sealed, event types subscribed), ``outbound_event`` every event emitted
with the body sent (one per case and type: ``dedupe_key``), and ``outbound_delivery`` every try
with its HTTP status or error and how long it took. Each delivery is a ``scheduled_action`` of
kind ``outbound_event``; that column needs no change.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0014_outbound_webhooks'
down_revision: str | None = '0013_metrics_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'outbound_endpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('secret', sa.Text(), nullable=False),
        sa.Column('event_types', sa.JSON(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('deleted_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_outbound_endpoint_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_endpoint')),
    )
    with op.batch_alter_table('outbound_endpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_endpoint_account_id'), ['account_id'],
                              unique=False)

    op.create_table(
        'outbound_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('type', sa.String(length=32), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('dedupe_key', sa.String(length=128), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_outbound_event_account_id_account')),
        sa.ForeignKeyConstraint(['case_id'], ['recovery_case.id'],
                                name=op.f('fk_outbound_event_case_id_recovery_case')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_event')),
        sa.UniqueConstraint('account_id', 'dedupe_key',
                            name=op.f('uq_outbound_event_account_id_dedupe_key')),
        sa.UniqueConstraint('event_id', name=op.f('uq_outbound_event_event_id')),
    )
    with op.batch_alter_table('outbound_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_event_case_id'), ['case_id'], unique=False)

    op.create_table(
        'outbound_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('action_id', sa.Integer(), nullable=True),
        sa.Column('attempted_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_outbound_delivery_account_id_account')),
        sa.ForeignKeyConstraint(['endpoint_id'], ['outbound_endpoint.id'],
                                name=op.f('fk_outbound_delivery_endpoint_id_outbound_endpoint')),
        sa.ForeignKeyConstraint(['event_id'], ['outbound_event.id'],
                                name=op.f('fk_outbound_delivery_event_id_outbound_event')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_delivery')),
    )
    with op.batch_alter_table('outbound_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_delivery_event_id_endpoint_id',
                              ['event_id', 'endpoint_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbound_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_delivery_event_id_endpoint_id')
    op.drop_table('outbound_delivery')
    with op.batch_alter_table('outbound_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_event_case_id'))
    op.drop_table('outbound_event')
    with op.batch_alter_table('outbound_endpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_endpoint_account_id'))
    op.drop_table('outbound_endpoint')
