"""Decode a webhook body into JSON that every database we support can store, or say why not.

Python's ``json`` accepts more than JSON and more than PostgreSQL stores: ``NaN`` and
``Infinity`` (and ``1e400``, which becomes infinity), integers longer than the interpreter's
digit limit (a ``ValueError``), nesting deep enough to exhaust the stack later. Those are refused.
Strings Stripe may legitimately carry from customer input (a name, a description, metadata) can
hold ``\\u0000`` or a lone surrogate, which neither PostgreSQL text/JSON nor UTF-8 can store: they
are replaced with U+FFFD, so the event is kept rather than lost.
"""

from __future__ import annotations

import json
import math
import re

# Stripe objects nest a few levels (four expansions at most); anything far deeper is not Stripe's.
MAX_DEPTH = 64
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In a body that decoded as UTF-8 JSON, NUL and lone surrogates can only come from escapes.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class BodyRejected(ValueError):
    """The body cannot be taken as a JSON event; ``code`` is a stable label, the message why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def decode_body(body: bytes) -> object:
    """The decoded JSON document, checked (``BodyRejected`` otherwise); strings not yet scrubbed."""
    try:
        document = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except BodyRejected:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BodyRejected("not_json", "body is not valid JSON") from None
    except ValueError as problem:
        # The interpreter's integer digit limit (sys.set_int_max_str_digits) raises a plain
        # ValueError: no Stripe number comes near it.
        raise BodyRejected("not_json", f"body has an unreadable number: {problem}") from None
    # Nesting never exceeds the number of arrays and objects: most bodies need no walk.
    containers = body.count(b"{") + body.count(b"[")
    if containers > MAX_DEPTH and _depth(document) > MAX_DEPTH:
        raise BodyRejected("not_json", f"body nests deeper than {MAX_DEPTH} levels")
    return document


def needs_scrubbing(body: bytes) -> bool:
    """Whether the document decoded from ``body`` may hold NUL or a lone surrogate (an escape
    for one): when not, the body is storable as it came. May say yes needlessly (an escaped
    backslash before ``u0000``), never no wrongly."""
    return _UNSTORABLE_ESCAPE.search(body) is not None


def scrub_strings(document: object) -> object:
    """``document`` with NUL and lone surrogates in its strings and keys replaced by U+FFFD."""
    if isinstance(document, str):
        return _scrub(document)
    if isinstance(document, list):
        return [scrub_strings(item) for item in document]
    if isinstance(document, dict):
        return {_scrub(key): scrub_strings(value) for key, value in document.items()}
    return document


def _scrub(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text)


def _refuse_constant(name: str) -> float:
    raise BodyRejected("not_json", f"body has {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyRejected("not_json", f"body has a number out of range: {text[:40]}")
    return value


def _depth(document: object) -> int:
    """How deep arrays and objects nest, without recursion (the stack is the thing at risk)."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest
