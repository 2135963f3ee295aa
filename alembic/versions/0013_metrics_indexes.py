"""recovery-rate metrics: the case's policy version and experiment arm, and the reports' indexes

Revision ID: 0013_metrics_indexes
Revises: 0011_api_tokens_audit
Create Date: 2026-12-01

The recovery-rate reports group cases by the policy version and experiment arm that planned them
(NULL: the default policy, no experiment; other work fills them in) and must answer within
200 ms over a million charge attempts on PostgreSQL (benchmarks/metrics.py). Each index below is
one that query plans (EXPLAIN ANALYZE) showed the reports need:

- recovery_case (account_id, first_failed_at): every report selects a period's cohort by the
  first failure.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0013_metrics_indexes'
down_revision: str | None = '0011_api_tokens_audit'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('recovery_case') as batch:
        batch.add_column(sa.Column('policy_version', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('experiment_arm', sa.String(length=32), nullable=True))
    op.create_index('ix_recovery_case_account_id_first_failed_at', 'recovery_case',
                    ['account_id', 'first_failed_at'])


def downgrade() -> None:
    op.drop_index('ix_recovery_case_account_id_first_failed_at', table_name='recovery_case')
    # Dropped in place (SQLite 3.35+ can): re-creating recovery_case would break the foreign
    # keys of the attempts, actions and messages that point at its rows.
    with op.batch_alter_table('recovery_case', recreate='never') as batch:
        batch.drop_column('experiment_arm')
        batch.drop_column('policy_version')
