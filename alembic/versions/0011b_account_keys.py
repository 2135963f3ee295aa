"""accounts connected by their own key, webhook endpoints we registered, removal

Revision ID: 0011b_account_keys
Revises: 0011_api_tokens_audit
Create Date: 2026-12-02

An account is now connected by its own API key (sealed at rest), as a Connect account under the
platform's key, or is the settings' account; the engine registers a webhook endpoint on connect
and keeps its id to delete it on removal. A Stripe account may be connected once per mode, so
the uniqueness of ``stripe_account_id`` becomes (``stripe_account_id``, ``livemode``). Removed
accounts keep their row: cases and history refer to it.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0011b_account_keys'
down_revision: str | None = '0011_api_tokens_audit'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("connection", "api_key_sealed", "stripe_webhook_endpoint_id",
           "connect_webhook_secrets", "removed_at")


def upgrade() -> None:
    # Plain ALTERs, not a batch: SQLite adds columns and indexes in place, whereas re-creating
    # the table would fail on the foreign keys that point at it.
    op.add_column('account', sa.Column('connection', sa.String(length=16), nullable=False,
                                       server_default='settings'))
    op.add_column('account', sa.Column('api_key_sealed', sa.Text(), nullable=True))
    op.add_column('account', sa.Column('stripe_webhook_endpoint_id', sa.String(length=64),
                                       nullable=True))
    op.add_column('account', sa.Column('connect_webhook_secrets', sa.Text(), nullable=False,
                                       server_default=''))
    op.add_column('account', sa.Column('removed_at', models.base.UTCDateTime(timezone=True),
                                       nullable=True))
    op.drop_index('ix_account_stripe_account_id', table_name='account')
    op.create_index('ix_account_stripe_account_id_livemode', 'account',
                    ['stripe_account_id', 'livemode'], unique=True)
    # Rows with an acct_ id were Connect accounts: that was the only way to add one.
    op.execute("UPDATE account SET connection = 'connect' WHERE stripe_account_id IS NOT NULL")


def downgrade() -> None:
    op.drop_index('ix_account_stripe_account_id_livemode', table_name='account')
    op.create_index('ix_account_stripe_account_id', 'account', ['stripe_account_id'],
                    unique=True)
    for column in reversed(COLUMNS):
        op.drop_column('account', column)
