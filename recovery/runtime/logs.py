"""Structured logging: one line per record, JSON when asked, never a secret."""

from __future__ import annotations

import json
import logging
import re

# Anything shaped like a Stripe secret is masked even if a caller logs it by mistake.
SECRET_PATTERN = re.compile(r"\b(sk|rk|whsec)_(live|test)?_?[A-Za-z0-9]{6,}")
STANDARD_ATTRS = set(vars(logging.makeLogRecord({})))


def mask_secrets(text: str) -> str:
    return SECRET_PATTERN.sub(lambda m: m.group(1) + "_***", text)


class StructuredFormatter(logging.Formatter):
    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in STANDARD_ATTRS}
        message = record.getMessage()
        if self.as_json:
            line = json.dumps({"level": record.levelname, "logger": record.name,
                               "message": message, **fields}, default=str)
        else:
            extras = " ".join(f"{k}={v}" for k, v in fields.items())
            line = f"{record.levelname:<7} {record.name}: {message} {extras}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_secrets(line)


def configure_logging(level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(StructuredFormatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
