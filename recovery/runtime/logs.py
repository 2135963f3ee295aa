"""Structured logging: one line per record, JSON when asked, never a secret or card data.

stripe-python logs every request's form data and every response body at DEBUG (logger
``stripe``): card details, client secrets. ``RedactingFilter`` masks them in the record itself,
before any handler (ours, a test's, an APM agent's) sees it; it sits on the ``stripe`` and HTTP
client loggers and on our own handler, and the formatter masks the final line once more.
"""

from __future__ import annotations

import json
import logging
import re

# Anything shaped like a Stripe secret is masked even if a caller logs it by mistake:
# secret and restricted API keys and webhook signing secrets (live, test or sandbox).
SECRET_PATTERN = re.compile(r"\b(sk|rk|whsec)_[A-Za-z0-9_]{6,}")
# A PaymentIntent's or SetupIntent's client secret lets a browser confirm the payment.
CLIENT_SECRET_PATTERN = re.compile(r"\b((?:pi|seti|src|cs)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+")
# Fields that hold card data or secrets, in JSON (`"last4": "4242"`), form or query data
# (`card[number]=4242...`, `client_secret=...`) and logfmt (`secret=...`).
SENSITIVE_FIELDS = ("number", "last4", "dynamic_last4", "cvc", "exp_month", "exp_year",
                    "fingerprint", "client_secret", "secret", "iin")
_FIELD_NAMES = "|".join(SENSITIVE_FIELDS)
JSON_FIELD_PATTERN = re.compile(
    rf'("(?:{_FIELD_NAMES})"\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d+)')
FORM_FIELD_PATTERN = re.compile(
    rf"((?:^|[&?\s\[]|%5B)(?:{_FIELD_NAMES})(?:\]|%5D)?=)[^&\s'\"]+", re.IGNORECASE)
# A card number on its own: 13 to 19 digits, maybe grouped by spaces or dashes (Luhn-checked,
# so timestamps, amounts and ids are left alone).
CARD_NUMBER_PATTERN = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
MASK = "***"
STANDARD_ATTRS = set(vars(logging.makeLogRecord({})))
# Loggers whose records can carry request or response bodies.
HTTP_LOGGERS = ("stripe", "httpx", "httpcore")


def mask_secrets(text: str) -> str:
    """``text`` with secrets, client secrets and card data replaced by ``***``."""
    text = SECRET_PATTERN.sub(lambda m: m.group(1) + "_" + MASK, text)
    text = CLIENT_SECRET_PATTERN.sub(lambda m: m.group(1) + "_secret_" + MASK, text)
    text = JSON_FIELD_PATTERN.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    text = FORM_FIELD_PATTERN.sub(lambda m: m.group(1) + MASK, text)
    return CARD_NUMBER_PATTERN.sub(_mask_card_number, text)


def _mask_card_number(match: re.Match) -> str:
    digits = [int(d) for d in match.group(0) if d.isdigit()]
    return MASK if _passes_luhn(digits) else match.group(0)


def _passes_luhn(digits: list[int]) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


class RedactingFilter(logging.Filter):
    """Masks secrets and card data in a record's message and extra fields, in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: log what was given
            message = f"{record.msg} {record.args}"
        record.msg, record.args = mask_secrets(message), ()
        for name, value in vars(record).items():
            if name not in STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, mask_secrets(value))
        return True


REDACTING_FILTER = RedactingFilter()


def redact_http_loggers() -> None:
    """Put the filter on the loggers that log HTTP bodies (idempotent)."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if REDACTING_FILTER not in logger.filters:
            logger.addFilter(REDACTING_FILTER)


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
    handler.addFilter(REDACTING_FILTER)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    redact_http_loggers()
