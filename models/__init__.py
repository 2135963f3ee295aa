"""SQLModel tables and enums only: the schema every other package reads and writes.

Importing this package registers every table on ``metadata`` (Alembic reads it).
"""

from models.account import Account
from models.base import metadata
from models.webhook_event import InboxStatus, WebhookEvent

__all__ = ["Account", "InboxStatus", "WebhookEvent", "metadata"]
