"""A whole policy document (what ``account.policy`` holds): checked at once, every section and
every wrong field named by its JSON path, and written back in one normal form.

The retry fields sit at the top level beside the sections other policies own: ``segments``
(``rules.segments``), ``communication`` (``rules.communication``), ``offers``
(``offers.eligibility``) and ``branding`` (``messaging.branding``). Each section's own
validation decides what is wrong with it; this module only gathers their answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from recovery.errors import PolicyError
from recovery.messaging.branding import Branding
from recovery.offers.eligibility import OffersPolicy
from recovery.rules.communication import CommunicationPolicy
from recovery.rules.policy import POLICY_SECTIONS, RetryPolicy, retry_problems
from recovery.rules.problems import FieldProblem, problems_of, refuse, under
from recovery.rules.segments import parse_segments

TITLE = "invalid policy"
# Each section other than the segments: how it is read, and how it is written back.
SECTIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], dict]]] = {
    "communication": (CommunicationPolicy.from_mapping, lambda policy: policy.to_dict()),
    "offers": (OffersPolicy.from_mapping, lambda policy: policy.to_dict()),
    "branding": (Branding.from_mapping, asdict),
}


def document_problems(document: Any) -> list[FieldProblem]:
    """Every problem of a policy document, each with the path of its field."""
    if not isinstance(document, Mapping):
        return [FieldProblem("", "must be an object of policy fields and sections")]
    retry_values = {key: value for key, value in document.items() if key not in POLICY_SECTIONS}
    problems = retry_problems(retry_values)
    base = None if problems else RetryPolicy.from_dict(retry_values)
    problems += parse_segments(document.get("segments"), base)[1]
    for name, (read, _write) in SECTIONS.items():
        if name in document:
            try:
                read(document[name])
            except PolicyError as error:
                problems += under(name, problems_of(error))
    return problems


def validated_document(document: Any) -> dict:
    """The document in normal form (every retry field filled in, each section as its policy
    writes it back); one ``PolicyError`` carrying every field error if anything is wrong."""
    refuse(TITLE, document_problems(document))
    base = RetryPolicy.from_dict(document)
    normal = base.to_dict()
    if document.get("segments") is not None:
        segments, _none = parse_segments(document["segments"], base)
        normal["segments"] = [segment.to_dict() for segment in segments]
    for name, (read, write) in SECTIONS.items():
        if document.get(name) is not None:
            normal[name] = write(read(document[name]))
    return normal


def stored_or_normal(document: Mapping | None) -> dict:
    """A stored document in normal form; as stored if it no longer validates (it is shown as it
    is, and the engine falls back to the defaults for the broken part)."""
    try:
        return validated_document(document or {})
    except PolicyError:
        return dict(document or {})
