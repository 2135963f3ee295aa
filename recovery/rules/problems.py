"""Where a policy document is wrong and what is wrong there: every problem names its field by a
JSON path (``segments[0].match.amount_min``), so validation reports every wrong field at once and
the API answers with all of them. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from recovery.errors import PolicyError


class FieldProblem(NamedTuple):
    loc: str  # the JSON path of the wrong value; "" for the section as a whole
    msg: str

    @property
    def text(self) -> str:
        return f"{self.loc} {self.msg}" if self.loc else self.msg


def path(prefix: str, key: str | int) -> str:
    """``prefix`` followed by a field name or a list index: ``segments[0].match``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def under(prefix: str, problems: Iterable[FieldProblem]) -> list[FieldProblem]:
    """The problems of a nested part, with their paths made relative to the whole."""
    found = []
    for problem in problems:
        if not problem.loc:
            loc = prefix
        elif problem.loc.startswith("[") or not prefix:
            loc = prefix + problem.loc
        else:
            loc = f"{prefix}.{problem.loc}"
        found.append(FieldProblem(loc, problem.msg))
    return found


def problems_of(error: PolicyError) -> list[FieldProblem]:
    """The field problems an error carries (one for the whole, if it names none)."""
    if error.field_errors:
        return [FieldProblem(item["loc"], item["msg"]) for item in error.field_errors]
    return [FieldProblem("", str(error))]


def refuse(title: str, problems: Iterable[FieldProblem]) -> None:
    """Raise one ``PolicyError`` naming every problem, if there is any."""
    problems = list(problems)
    if problems:
        raise PolicyError(f"{title}: " + "; ".join(problem.text for problem in problems),
                          field_errors=[{"loc": p.loc, "msg": p.msg} for p in problems])
