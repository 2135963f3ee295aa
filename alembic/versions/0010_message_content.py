"""message content kept with the message

Revision ID: 0010_message_content
Revises: 0009_offers
Create Date: 2026-12-01

A message is rendered once, when its notify step runs, and kept whole in its row (bodies, language,
sender, reply-to, unsubscribe link, the offer it carries), so a re-send after a crash or a refused
delivery sends exactly what was first written, under the same Message-ID.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0010_message_content'
down_revision: str | None = '0009_offers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("body_text", "body_html", "locale", "sender", "reply_to", "unsubscribe_url", "offer")


def upgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column('body_text', sa.Text(), nullable=True))
        batch.add_column(sa.Column('body_html', sa.Text(), nullable=True))
        batch.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
        batch.add_column(sa.Column('sender', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('reply_to', sa.String(length=320), nullable=True))
        batch.add_column(sa.Column('unsubscribe_url', sa.Text(), nullable=True))
        batch.add_column(sa.Column('offer', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('message') as batch:
        for column in reversed(COLUMNS):
            batch.drop_column(column)
