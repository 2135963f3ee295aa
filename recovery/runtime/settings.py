"""The engine's settings: one pydantic-settings class, ``RECOVERY_`` environment prefix.

Every setting has a working default, so ``make run`` needs no configuration: a SQLite file,
the sandbox instead of Stripe when no API key is set, and a local email outbox (.eml files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "whsec_...", "sk_test_..."}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECOVERY_", env_file=None, extra="ignore")

    database_url: str = "sqlite:///./var/recovery.db"
    host: str = "127.0.0.1"
    port: int = 8000

    # The single default account; Connect accounts are added to the ``account`` table.
    account_id: str = "acct_default"
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secrets: SecretStr = SecretStr("")
    stripe_api_base: str = "https://api.stripe.com"
    # Requests/s per Stripe account for the whole deployment: every process using the database
    # shares it (recovery/shared_rate_limit.py). None: 25 for a test key, 80 for a live one.
    stripe_rate_limit_per_second: float | None = Field(default=None, gt=0)
    # How many times a request that is safe to repeat (a read, a keyed write) is sent again at
    # once after a 429, 409, timeout or connection error, before its action is put off.
    stripe_transient_retries: int = Field(default=2, ge=0, le=5)

    # Webhook receiver. Stripe's own libraries allow 300 s; above 10 minutes a captured request
    # could be replayed for too long, and 0 would switch the age check off.
    webhook_tolerance_seconds: int = Field(default=300, ge=1, le=600)
    webhook_max_body_bytes: int = 1024 * 1024

    # Ingest / worker
    run_worker: bool = True
    # ``serve``'s worker child runs at this niceness (19, the lowest priority: under load the
    # request path gets the CPU first; a machine kept saturated then starves the worker, which
    # /healthz shows as inbox lag).
    worker_niceness: int = Field(default=19, ge=0, le=19)
    # A ``recovery worker`` gives way to the webhook receiver while deliveries arrive faster than
    # this many per second (0: never), putting each job off for at most the deferral below
    # (recovery/worker/yielding.py).
    worker_yield_above_per_second: float = Field(default=100, ge=0)
    worker_max_deferral_seconds: float = Field(default=30, ge=0, le=600)
    # Inbox rows claimed and handled per transaction (failures in one are planned together).
    ingest_batch_size: int = Field(default=100, ge=1)
    ingest_max_tries: int = Field(default=8, ge=1)
    action_batch_size: int = Field(default=100, ge=1)
    # Runs of one action that may fail (an unexpected error, or a 5xx Stripe stored under its
    # key) before it is ``failed`` with an alert. Stripe being unavailable does not count.
    action_max_tries: int = Field(default=8, ge=1)
    tick_seconds: float = 1.0
    healthz_max_pending_age_seconds: int = 600

    # Fernet keys that encrypt secrets stored in the database (accounts' keys, webhook secrets),
    # comma-separated, newest first: the first encrypts, any decrypts (key rotation). With no key,
    # the sandbox keeps a generated one in ``secrets_key_path``; a real Stripe account needs one.
    secrets_key: SecretStr | None = None
    secrets_key_path: Path = Path("var/secrets.key")

    # Email. With no SMTP host, each email is written as an .eml file to ``outbox_dir``.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # starttls: plain connection upgraded (port 587); tls: TLS from the start (465); none: local
    # relays only.
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    mail_from: str = "billing@example.invalid"  # From, unless an account's branding names one
    outbox_dir: Path = Path("var/outbox")

    # Links in messages (unsubscribe, offers) point here; https in production (RFC 8058).
    public_base_url: str = "http://127.0.0.1:8000"
    # Signs those links (at least 32 characters). Needed with a real Stripe key; the sandbox
    # generates one on first use and keeps it in ``link_secret_path``.
    link_secret: SecretStr | None = None
    link_secret_path: Path = Path("var/link.secret")
    link_max_age_days: int = Field(default=14, ge=1)
    # Where Stripe's billing portal sends the customer back after a card update (default: the
    # public base URL).
    card_update_return_url: str | None = None

    # Signs the dashboard's session cookies (at least 32 characters, the same on every process).
    # The sandbox generates one on first use and keeps it in ``session_secret_path``; with a real
    # Stripe key and no secret set, the dashboard cannot sign anyone in.
    session_secret: SecretStr | None = None
    session_secret_path: Path = Path("var/session.secret")
    session_max_age_hours: float = Field(default=12.0, gt=0, le=24 * 30)

    # SMS through a Twilio-compatible API, off by default; only to customers who opted in.
    sms_enabled: bool = False
    sms_base_url: str = "https://api.twilio.com"
    sms_account_sid: str | None = None
    sms_auth_token: SecretStr | None = None
    sms_from: str | None = None  # the sending number, E.164
    sms_timeout_seconds: float = Field(default=10.0, gt=0)
    # A message its channel has not accepted this long after it was written is re-sent (same
    # message id); after this many refusals it is ``failed`` with an alert.
    message_resend_grace_seconds: int = Field(default=600, ge=1)
    message_max_tries: int = Field(default=8, ge=1)

    # Outbound events: signed webhooks to the account's own systems (CRM, ERP). Endpoints must be
    # https; http to this machine (127.0.0.1, localhost, ::1) is allowed in the sandbox, or with
    # ``outbound_allow_local_http`` for local development against a test key.
    outbound_allow_local_http: bool = False
    outbound_timeout_seconds: float = Field(default=10.0, gt=0)

    # The live sandbox (``make run`` with no Stripe key)
    sandbox_seconds_per_day: float = Field(default=10.0, gt=0)
    sandbox_subscribers: int = Field(default=200, ge=1)
    sandbox_world: str = "recovery.sandbox.world.builtin:make_world"

    # Smart timing: an account's own scorer decides once it has this many charge attempts (and
    # a promoted artifact); before that the decline-aware prior does.
    smart_min_attempts: int = Field(default=500, ge=1)
    # How often each smart-timing account's scorer is retrained (nightly by default).
    retrain_every_hours: float = Field(default=24.0, gt=0)

    # The operator's bearer token for the accounts API (POST/GET/DELETE /v1/accounts): connecting
    # an account comes before any of its own tokens exists. Unset: those routes answer 404.
    operator_token: SecretStr | None = None

    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("stripe_api_key", "secrets_key", "smtp_host", "smtp_username",
                     "smtp_password", "link_secret", "session_secret", "sms_account_sid",
                     "sms_auth_token", "sms_from", "operator_token", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value):
        return value or None

    @field_validator("link_secret", "session_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None, info) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            what = info.field_name.replace("_", " ")
            raise ValueError(f"the {what} must be at least 32 characters; make one with:"
                             " python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return value

    @field_validator("operator_token")
    @classmethod
    def _long_operator_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("the operator token must be at least 32 characters; make one with:"
                             " python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _absolute_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("public_base_url must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("card_update_return_url")
    @classmethod
    def _absolute_return_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("card_update_return_url must be an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _sms_needs_its_account(self) -> Settings:
        if self.sms_enabled:
            missing = [name for name in ("sms_account_sid", "sms_auth_token", "sms_from")
                       if getattr(self, name) is None]
            if missing:
                raise ValueError(f"sms_enabled needs {', '.join(missing)}")
        return self

    @field_validator("secrets_key")
    @classmethod
    def _valid_fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            for key in split_keys(value):
                try:
                    Fernet(key)
                except ValueError:
                    raise ValueError(
                        "each secrets key must be a Fernet key (32 url-safe base64-encoded bytes);"
                        " make one with: python -c 'from cryptography.fernet import Fernet;"
                        " print(Fernet.generate_key().decode())'") from None
        return value

    @field_validator("stripe_api_key", "stripe_webhook_secrets", "secrets_key", "link_secret",
                     "session_secret", "smtp_password", "sms_auth_token", "operator_token")
    @classmethod
    def _refuse_placeholders(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("a placeholder secret was given; set the real value or leave it unset")
        return value

    @property
    def secrets_keys(self) -> tuple[str, ...]:
        """The configured Fernet keys, newest first; empty when none is set."""
        return split_keys(self.secrets_key) if self.secrets_key is not None else ()

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        """The configured signing secrets, newest first as given (comma-separated for rotation)."""
        raw = self.stripe_webhook_secrets.get_secret_value()
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    @property
    def outbound_local_http_allowed(self) -> bool:
        """Outbound webhook endpoints may be plain http to this machine."""
        return self.sandbox or self.outbound_allow_local_http

    @property
    def sandbox(self) -> bool:
        """No Stripe key: the engine runs against the built-in simulated Stripe."""
        return self.stripe_api_key is None


def split_keys(value: SecretStr) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.get_secret_value().split(",") if part.strip())
