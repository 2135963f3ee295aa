"""recovery-rate metrics: the case's policy version and experiment arm, and the reports' indexes

Revision ID: 0013_metrics_indexes
Revises: 0012_backfill_progress
Create Date: 2026-12-01

The recovery-rate reports group cases by the policy version and experiment arm that planned them
(NULL: the default policy, no experiment; other work fills them in) and must answer within
200 ms over a million charge attempts on PostgreSQL (benchmarks/metrics.py). Each index below is
one that query plans (EXPLAIN ANALYZE) showed the reports need:

- recovery_case (account_id, first_failed_at), with id, status, closed_at, currency,
  amount_due, recovered_by and stripe_customer_id included on PostgreSQL: every report reads a
  period's cohort by its first failure; index-only, the scan of a quarter's 67,000 cases took
  about a third less time than through the plain index, and half the time of the sequential
  scan the planner chose without it (the offenders' per-customer scan too).
- charge_attempt (case_id, attempted_at, id), with succeeded, by, decline class, card brand
  and country included on PostgreSQL: a case's first failure, its attempt counts and the attempt
  that paid become index-only lookups (the first failure was an index scan plus a sort per case,
  and a second of JIT compiling on top).
- message (case_id, sent_at) for sent messages only, with channel and kind included on
  PostgreSQL: the last message before a recovery, and the messages of a period's cases.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0013_metrics_indexes'
down_revision: str | None = '0012_backfill_progress'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('recovery_case') as batch:
        batch.add_column(sa.Column('policy_version', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('experiment_arm', sa.String(length=32), nullable=True))
    op.create_index('ix_recovery_case_account_id_first_failed_at', 'recovery_case',
                    ['account_id', 'first_failed_at'],
                    postgresql_include=['id', 'status', 'closed_at', 'currency', 'amount_due',
                                        'recovered_by', 'stripe_customer_id'])
    op.create_index('ix_charge_attempt_case_id_attempted_at', 'charge_attempt',
                    ['case_id', 'attempted_at', 'id'],
                    postgresql_include=['succeeded', 'by', 'decline_class', 'card_brand',
                                        'card_country'])
    op.create_index('ix_message_case_id_sent', 'message', ['case_id', 'sent_at'],
                    postgresql_where=sa.text("status = 'sent'"),
                    sqlite_where=sa.text("status = 'sent'"),
                    postgresql_include=['channel', 'kind'])


def downgrade() -> None:
    op.drop_index('ix_message_case_id_sent', table_name='message')
    op.drop_index('ix_charge_attempt_case_id_attempted_at', table_name='charge_attempt')
    op.drop_index('ix_recovery_case_account_id_first_failed_at', table_name='recovery_case')
    # Dropped in place (SQLite 3.35+ can): re-creating recovery_case would break the foreign
    # keys of the attempts, actions and messages that point at its rows.
    with op.batch_alter_table('recovery_case', recreate='never') as batch:
        batch.drop_column('experiment_arm')
        batch.drop_column('policy_version')
