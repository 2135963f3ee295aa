"""Encryption at rest for the secrets stored in the database (accounts' API keys and webhook
signing secrets).

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``; a MultiFernet over the configured keys
lets an operator rotate: the first key encrypts, any of them decrypts, and values under an older
key are reported for re-sealing. It never logs or returns a secret except to its caller.

Where the key comes from (``SecretBox.from_settings``):
- ``RECOVERY_SECRETS_KEY`` when set (comma-separated Fernet keys, newest first);
- else, in the sandbox (no Stripe API key), a key generated once and kept in
  ``RECOVERY_SECRETS_KEY_PATH`` (``var/secrets.key``, readable by its owner only);
- else none: reading still works for values stored in plain text by older versions, but sealing
  a secret raises ``SecretsKeyMissing``. A real account's secrets are never stored unencrypted,
  and a key on local disk would differ between hosts sharing one database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from recovery.errors import ConfigurationError
from recovery.runtime.secret_files import generated_secret
from recovery.runtime.settings import Settings

log = logging.getLogger("recovery.accounts")

# Stored values say how they were sealed, so a later scheme (or a key service) can sit beside it.
FERNET_PREFIX = "fernet:"


class SecretsKeyMissing(ConfigurationError):
    """A secret must be stored but no encryption key is configured."""


class SecretUnreadable(ConfigurationError):
    """A stored secret does not decrypt with any configured key."""


@dataclass(frozen=True)
class OpenedSecrets:
    secrets: tuple[str, ...]
    # True when the stored value is plain text or sealed with an older key: seal it again.
    needs_resealing: bool


class SecretBox:
    """Seals and opens stored secrets with the configured keys, read when first needed."""

    def __init__(self, keys: Sequence[str | bytes] | Callable[[], Sequence[str | bytes]]) -> None:
        self._keys = keys

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secrets_keys:
            return cls(settings.secrets_keys)
        if settings.sandbox:
            # Lazily: building the services must not write a key file nobody needs.
            return cls(lambda: [_sandbox_key(settings.secrets_key_path)])
        return cls([])

    @cached_property
    def _fernets(self) -> list[Fernet]:
        keys = self._keys() if callable(self._keys) else self._keys
        return [Fernet(key) for key in keys]

    @property
    def _primary(self) -> Fernet | None:
        return self._fernets[0] if self._fernets else None

    @property
    def has_key(self) -> bool:
        return self._primary is not None

    def seal(self, secrets: Sequence[str]) -> str:
        """The value to store for ``secrets`` ("" for none)."""
        if not secrets:
            return ""
        if self._primary is None:
            raise SecretsKeyMissing(
                "no secrets key: set RECOVERY_SECRETS_KEY (a Fernet key) to store account secrets")
        joined = ",".join(secrets).encode("utf-8")
        return FERNET_PREFIX + self._primary.encrypt(joined).decode("ascii")

    def open(self, stored: str) -> OpenedSecrets:
        """The secrets in a stored value; ``SecretUnreadable`` when no configured key opens it."""
        if not stored.startswith(FERNET_PREFIX):
            # Written before secrets were encrypted: comma-separated plain text.
            plain = tuple(part.strip() for part in stored.split(",") if part.strip())
            return OpenedSecrets(plain, needs_resealing=bool(plain) and self.has_key)
        token = stored.removeprefix(FERNET_PREFIX).encode("utf-8")
        if self._primary is None:
            raise SecretUnreadable("a stored secret is encrypted but no secrets key is configured")
        try:
            return OpenedSecrets(_split(self._primary.decrypt(token)), needs_resealing=False)
        except InvalidToken:
            pass
        try:
            return OpenedSecrets(_split(MultiFernet(self._fernets).decrypt(token)),
                                 needs_resealing=True)
        except InvalidToken:
            raise SecretUnreadable("a stored secret does not decrypt with any configured key") \
                from None


def _split(plain: bytes) -> tuple[str, ...]:
    return tuple(part for part in plain.decode("utf-8").split(",") if part)


def _sandbox_key(path: Path) -> bytes:
    """The sandbox's key file, created (owner read/write only) on first use."""
    return generated_secret(path, Fernet.generate_key, "secrets key")
