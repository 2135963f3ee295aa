"""A/B experiments between policy versions

Revision ID: 0016_experiments
Revises: 0012_backfill_progress
Create Date: 2026-12-12

``experiment``: an account's A/B experiment between a control and a treatment policy version,
its split and its life (draft, running, stopped, promoted with a winner).
``experiment_assignment``: the arm each customer was put in, written once (unique per experiment
and customer) so that a customer's arm never changes, whatever the hash or the split does later;
the results join cases to arms through it.

The policy version ids will point at ``policy_version``, a table another migration adds: they
are plain integers here, without a foreign key.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0016_experiments'
down_revision: str | None = '0012_backfill_progress'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'experiment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('control_policy_version_id', sa.Integer(), nullable=False),
        sa.Column('treatment_policy_version_id', sa.Integer(), nullable=False),
        sa.Column('treatment_percent', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('started_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('stopped_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('winner', sa.String(length=10), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=True),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint('treatment_percent > 0 AND treatment_percent < 100',
                           name=op.f('ck_experiment_treatment_percent')),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_experiment_account_id_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_experiment')),
    )
    with op.batch_alter_table('experiment', schema=None) as batch_op:
        batch_op.create_index('ix_experiment_account_id_status', ['account_id', 'status'],
                              unique=False)
    op.create_table(
        'experiment_assignment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('experiment_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('stripe_customer_id', sa.String(length=255), nullable=False),
        sa.Column('arm', sa.String(length=10), nullable=False),
        sa.Column('assigned_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("arm IN ('control', 'treatment')",
                           name=op.f('ck_experiment_assignment_arm')),
        sa.ForeignKeyConstraint(['account_id'], ['account.id'],
                                name=op.f('fk_experiment_assignment_account_id_account')),
        sa.ForeignKeyConstraint(['experiment_id'], ['experiment.id'],
                                name=op.f('fk_experiment_assignment_experiment_id_experiment')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_experiment_assignment')),
        sa.UniqueConstraint('experiment_id', 'stripe_customer_id',
                            name=op.f('uq_experiment_assignment_experiment_id_stripe_customer_id')),
    )
    with op.batch_alter_table('experiment_assignment', schema=None) as batch_op:
        batch_op.create_index('ix_experiment_assignment_account_id_stripe_customer_id',
                              ['account_id', 'stripe_customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('experiment_assignment', schema=None) as batch_op:
        batch_op.drop_index('ix_experiment_assignment_account_id_stripe_customer_id')
    op.drop_table('experiment_assignment')
    with op.batch_alter_table('experiment', schema=None) as batch_op:
        batch_op.drop_index('ix_experiment_account_id_status')
    op.drop_table('experiment')
