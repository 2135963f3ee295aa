"""API tokens and the audit trail

Revision ID: 0011_api_tokens_audit
Revises: 0010_message_content
Create Date: 2026-12-01

The growth-team API authenticates each request with an account's token; only the token's SHA-256
digest is stored. Admin actions (tokens, policies, accounts) leave an audit row with the value
before and after.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0011_api_tokens_audit'
down_revision: str | None = '0010_message_content'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'api_token',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.String(length=64), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_api_token_account_id', 'api_token', ['account_id'])
    op.create_index('ix_api_token_token_hash', 'api_token', ['token_hash'], unique=True)
    op.create_table(
        'audit_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target', sa.String(length=255), nullable=False),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_entry_account_id_at', 'audit_entry', ['account_id', 'at'])


def downgrade() -> None:
    op.drop_index('ix_audit_entry_account_id_at', table_name='audit_entry')
    op.drop_table('audit_entry')
    op.drop_index('ix_api_token_token_hash', table_name='api_token')
    op.drop_index('ix_api_token_account_id', table_name='api_token')
    op.drop_table('api_token')
