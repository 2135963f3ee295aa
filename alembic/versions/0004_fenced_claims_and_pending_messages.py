"""fenced claims and pending messages: a message is written pending, with a stable message id,
before its channel is called, and re-sent until the channel accepts it

Revision ID: 0004_actions
Revises: 0004_rules
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa

import models.base
from alembic import op

revision: str = '0004_actions'
down_revision: str | None = '0004_rules'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Messages written before this revision were all handed to their channel already.
EXISTING_MESSAGE_DOMAIN = "recovery.invalid"


def upgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('tries', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('created_at', models.base.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', models.base.UTCDateTime(timezone=True),
                                      nullable=True))

    message = sa.table('message', sa.column('id', sa.Integer()),
                       sa.column('message_id', sa.String()), sa.column('sent_at'),
                       sa.column('created_at'))
    op.execute(message.update().values(
        message_id=sa.literal('<message-') + sa.cast(message.c.id, sa.String())
        + sa.literal(f'@{EXISTING_MESSAGE_DOMAIN}>'),
        created_at=message.c.sent_at))

    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.alter_column('message_id', existing_type=sa.String(length=255), nullable=False)
        batch_op.alter_column('created_at', existing_type=models.base.UTCDateTime(timezone=True),
                              nullable=False)
        batch_op.alter_column('sent_at', existing_type=models.base.UTCDateTime(timezone=True),
                              nullable=True)
        batch_op.alter_column('tries', existing_type=sa.Integer(), server_default=None)
        batch_op.create_unique_constraint(batch_op.f('uq_message_message_id'), ['message_id'])
        batch_op.create_index('ix_message_status_next_attempt_at', ['status', 'next_attempt_at'],
                              unique=False)


def downgrade() -> None:
    message = sa.table('message', sa.column('sent_at'), sa.column('created_at'))
    # A message never delivered keeps the time it was written.
    op.execute(message.update().where(message.c.sent_at.is_(None))
               .values(sent_at=message.c.created_at))
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_status_next_attempt_at')
        batch_op.drop_constraint(batch_op.f('uq_message_message_id'), type_='unique')
        batch_op.alter_column('sent_at', existing_type=models.base.UTCDateTime(timezone=True),
                              nullable=False)
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('created_at')
        batch_op.drop_column('tries')
        batch_op.drop_column('message_id')
