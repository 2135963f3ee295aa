"""case tallies: each case's first failure, attempt counts and messages, kept on the case

Revision ID: 0017_case_tallies
Revises: 0016_experiments
Create Date: 2026-12-01

The recovery-rate reports group and count a period's cases by their first failure, attempts,
paying attempt and messages; looked up per case, those cost a join over a quarter of a million
attempts (benchmarks/metrics.py: 200-250 ms at rest). The engine now keeps them on the case
(``recovery/engine/case_tallies.py``); this revision adds the columns, fills them for the cases
already stored, and includes them in the cohort index so the reports stay index-only.

The messages' case index now carries (on PostgreSQL) the columns the channel and template
reports read, so a period's messages are read from the index alone (a third of the time of the
index scan with a quarter of a million heap reads it replaces); the partial index of sent
messages that the per-case lookups used goes, as nothing reads it any more.
"""

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0017_case_tallies'
down_revision: str | None = '0016_experiments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COHORT_INDEX = 'ix_recovery_case_account_id_first_failed_at'
COHORT_INCLUDE = ['id', 'status', 'closed_at', 'currency', 'amount_due', 'recovered_by',
                  'stripe_customer_id']
TALLIES = ['first_decline_class', 'first_card_brand', 'first_card_country', 'attempt_count',
           'engine_attempt_count', 'failed_attempt_count', 'paying_attempt_number',
           'message_count', 'last_message_channel']
BATCH = 1000

cases = sa.table('recovery_case', sa.column('id'), sa.column('closed_at'),
                 *(sa.column(name) for name in TALLIES), sa.column('last_message_at'))
attempts = sa.table('charge_attempt', sa.column('id'), sa.column('case_id'),
                    sa.column('attempted_at'), sa.column('succeeded'), sa.column('by'),
                    sa.column('decline_class'), sa.column('card_brand'),
                    sa.column('card_country'))
messages = sa.table('message', sa.column('id'), sa.column('case_id'), sa.column('status'),
                    sa.column('channel'), sa.column('sent_at'))


def upgrade() -> None:
    with op.batch_alter_table('recovery_case') as batch:
        batch.add_column(sa.Column('first_decline_class', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('first_card_brand', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('first_card_country', sa.String(length=2), nullable=True))
        for name in ('attempt_count', 'engine_attempt_count', 'failed_attempt_count',
                     'message_count'):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False,
                                       server_default='0'))
        batch.add_column(sa.Column('paying_attempt_number', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('last_message_channel', sa.String(length=16),
                                   nullable=True))
        batch.add_column(sa.Column('last_message_at', models.base.UTCDateTime(timezone=True),
                                   nullable=True))
    _fill_tallies(op.get_bind())
    op.drop_index(COHORT_INDEX, table_name='recovery_case')
    op.create_index(COHORT_INDEX, 'recovery_case', ['account_id', 'first_failed_at'],
                    postgresql_include=COHORT_INCLUDE + TALLIES)
    op.drop_index('ix_message_case_id_sent', table_name='message')
    op.drop_index('ix_message_case_id', table_name='message')
    op.create_index('ix_message_case_id', 'message', ['case_id'],
                    postgresql_include=['status', 'channel', 'kind', 'sent_at'])


def downgrade() -> None:
    op.drop_index('ix_message_case_id', table_name='message')
    op.create_index('ix_message_case_id', 'message', ['case_id'])
    op.create_index('ix_message_case_id_sent', 'message', ['case_id', 'sent_at'],
                    postgresql_where=sa.text("status = 'sent'"),
                    sqlite_where=sa.text("status = 'sent'"),
                    postgresql_include=['channel', 'kind'])
    op.drop_index(COHORT_INDEX, table_name='recovery_case')
    op.create_index(COHORT_INDEX, 'recovery_case', ['account_id', 'first_failed_at'],
                    postgresql_include=COHORT_INCLUDE)
    # Dropped in place (SQLite 3.35+ can): re-creating recovery_case would break the foreign
    # keys that point at its rows.
    with op.batch_alter_table('recovery_case', recreate='never') as batch:
        for name in reversed(TALLIES + ['last_message_at']):
            batch.drop_column(name)


def _fill_tallies(bind) -> None:
    """The same tallies the engine keeps, computed from the rows already stored."""
    values: dict[int, dict] = defaultdict(dict)
    rows = bind.execute(
        sa.select(attempts.c.case_id, attempts.c.succeeded, attempts.c.by,
                  attempts.c.decline_class, attempts.c.card_brand, attempts.c.card_country)
        .where(attempts.c.case_id.is_not(None))
        .order_by(attempts.c.case_id, attempts.c.attempted_at, attempts.c.id))
    for row in rows:
        tally = values[row.case_id]
        tally['attempt_count'] = tally.get('attempt_count', 0) + 1
        tally['engine_attempt_count'] = (tally.get('engine_attempt_count', 0)
                                         + (row.by == 'engine'))
        if row.succeeded:
            tally.setdefault('paying_attempt_number', tally['attempt_count'])
            continue
        tally['failed_attempt_count'] = tally.get('failed_attempt_count', 0) + 1
        if 'first_decline_class' not in tally:
            tally.update(first_decline_class=row.decline_class, first_card_brand=row.card_brand,
                         first_card_country=row.card_country)
    sent = bind.execute(
        sa.select(messages.c.case_id, messages.c.channel, messages.c.sent_at)
        .select_from(messages.join(cases, cases.c.id == messages.c.case_id))
        .where(messages.c.status == 'sent',
               sa.or_(cases.c.closed_at.is_(None), messages.c.sent_at <= cases.c.closed_at))
        .order_by(messages.c.case_id, messages.c.sent_at, messages.c.id))
    for row in sent:
        tally = values[row.case_id]
        tally['message_count'] = tally.get('message_count', 0) + 1
        tally.update(last_message_channel=row.channel, last_message_at=row.sent_at)
    empty = {name: None for name in TALLIES + ['last_message_at']} | {
        'attempt_count': 0, 'engine_attempt_count': 0, 'failed_attempt_count': 0,
        'message_count': 0}
    updates = [empty | tally | {'case_id': case_id} for case_id, tally in values.items()]
    statement = (sa.update(cases).where(cases.c.id == sa.bindparam('case_id'))
                 .values({name: sa.bindparam(name) for name in TALLIES + ['last_message_at']}))
    for start in range(0, len(updates), BATCH):
        bind.execute(statement, updates[start:start + BATCH])
