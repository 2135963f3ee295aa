"""charge_attempt.payment_method_kind: which kind of payment method an attempt charged

Card and bank-debit attempts follow different retry budgets; the attempt log records Stripe's
payment method type so the network rules know which one applies to a key's history.

Revision ID: 0004_rules
Revises: 0004_engine
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0004_rules'
down_revision: str | None = '0004_engine'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot alter a table in place; on PostgreSQL it is a plain ALTER.
    with op.batch_alter_table('charge_attempt') as batch:
        batch.add_column(sa.Column('payment_method_kind', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('charge_attempt') as batch:
        batch.drop_column('payment_method_kind')
