"""policy versions

Revision ID: 0015_policy_versions
Revises: 0011_api_tokens_audit
Create Date: 2026-12-02

Growth teams replace an account's policy through the API and the CLI; every replacement (and
every rollback) is kept as a numbered version with its author and time, so a change can be read
back and undone. ``account.policy`` stays the active document the engine reads.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0015_policy_versions'
down_revision: str | None = '0016_experiments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'policy_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.String(length=64), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('document', sa.JSON(), nullable=False),
        sa.Column('author', sa.String(length=200), nullable=False),
        sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['account.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('account_id', 'number'),
    )


def downgrade() -> None:
    op.drop_table('policy_version')
