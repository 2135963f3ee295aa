"""Per-account branding of customer messages, read from ``account.policy["branding"]``.

Validated like the retry policy: a bad value raises ``PolicyError`` naming the field. Colours are
``#rrggbb`` and addresses are bare, single-line email addresses, because both end up inside HTML
attributes and mail headers, where anything looser could inject markup or headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recovery.rules.problems import FieldProblem, refuse

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# Deliberately plain: one @, no spaces, angle brackets, quotes or line breaks, a dot in the domain.
_ADDRESS = re.compile(r"[^@\s<>\"',;()]+@[^@\s<>\"',;()]+\.[^@\s<>\"',;()]+")
_URL = re.compile(r"https?://[^\s<>\"']+")
MAX_NAME_LENGTH = 100
TITLE = "invalid branding"


@dataclass(frozen=True)
class Branding:
    name: str = "Your subscription"
    logo_url: str | None = None
    primary_color: str = "#1a56db"
    accent_color: str = "#0e9f6e"
    sender: str = "billing@example.invalid"
    reply_to: str | None = None

    def __post_init__(self) -> None:
        refuse(TITLE, _problems(self))

    @classmethod
    def from_mapping(cls, data: Mapping | None) -> Branding:
        """Branding from its policy mapping; ``None`` or ``{}`` gives the defaults."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            refuse(TITLE, [FieldProblem("", "must be a mapping of fields")])
        known = cls.__dataclass_fields__
        values = {key: value for key, value in data.items() if key in known}
        unchecked = object.__new__(cls)  # only to list the problems of every field at once
        for name, spec in known.items():
            object.__setattr__(unchecked, name, values.get(name, spec.default))
        refuse(TITLE, [FieldProblem(str(key), "is an unknown field") for key in data
                       if key not in known] + list(_problems(unchecked)))
        return cls(**values)

    @classmethod
    def from_policy(cls, policy: Mapping | None) -> Branding:
        """Branding of an account from its whole policy (``account.policy``), defaults if unset."""
        return cls.from_mapping((policy or {}).get("branding"))


def _problems(branding: Branding):
    name = branding.name
    if not isinstance(name, str) or not name.strip():
        yield FieldProblem("name", "must be a non-empty string")
    elif len(name) > MAX_NAME_LENGTH or "\r" in name or "\n" in name:
        yield FieldProblem("name", f"must be one line of at most {MAX_NAME_LENGTH} characters")
    if branding.logo_url is not None and not _matches(_URL, branding.logo_url):
        yield FieldProblem("logo_url", f"must be an http(s) URL, got {branding.logo_url!r}")
    for field_name in ("primary_color", "accent_color"):
        value = getattr(branding, field_name)
        if not _matches(_COLOUR, value):
            yield FieldProblem(field_name, f"must be a #rrggbb colour, got {value!r}")
    if not _matches(_ADDRESS, branding.sender):
        yield FieldProblem("sender", f"must be an email address, got {branding.sender!r}")
    if branding.reply_to is not None and not _matches(_ADDRESS, branding.reply_to):
        yield FieldProblem("reply_to", f"must be an email address, got {branding.reply_to!r}")


def _matches(pattern: re.Pattern, value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
