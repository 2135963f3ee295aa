"""SQLModel tables and enums only: the schema every other package reads and writes.

Importing this package registers every table on ``metadata`` (Alembic reads it).
"""

from models.account import Account
from models.api_token import ApiToken
from models.audit_entry import AuditEntry
from models.backfill_run import BackfillRun, BackfillStatus
from models.base import metadata
from models.canceled_subscription import CanceledSubscription
from models.charge_attempt import ChargeAttempt
from models.contact_preference import ContactPreference
from models.experiment import Experiment, ExperimentAssignment, ExperimentStatus
from models.finished_invoice import FinishedInvoice
from models.link_use import LinkUse
from models.message import Message, MessageStatus
from models.model_version import ModelVersion
from models.offer import Offer, OfferKind, OfferStatus
from models.outbound import (
    DeliveryOutcome,
    OutboundDelivery,
    OutboundEndpoint,
    OutboundEvent,
    OutboundEventType,
)
from models.policy_version import PolicyVersion
from models.rate_limit_slot import RateLimitSlot
from models.recovery_case import CaseStatus, RecoveredBy, RecoveryCase, WaitingFor
from models.scheduled_action import ActionKind, ActionStatus, ScheduledAction
from models.webhook_event import InboxStatus, WebhookEvent

__all__ = [
    "Account", "ActionKind", "ActionStatus", "ApiToken", "AuditEntry", "BackfillRun",
    "BackfillStatus", "CanceledSubscription", "CaseStatus", "ChargeAttempt",
    "ContactPreference", "DeliveryOutcome", "Experiment", "ExperimentAssignment",
    "ExperimentStatus", "FinishedInvoice", "InboxStatus", "LinkUse", "Message", "MessageStatus",
    "ModelVersion", "Offer", "OfferKind", "OfferStatus", "OutboundDelivery", "OutboundEndpoint",
    "OutboundEvent", "OutboundEventType", "PolicyVersion", "RateLimitSlot", "RecoveredBy",
    "RecoveryCase", "ScheduledAction", "WaitingFor", "WebhookEvent", "metadata",
]
