"""Where a policy document is wrong and what is wrong there: every problem names its field by a
JSON path, so validation reports every wrong field at once and the API answers with all of them.

A path is a tuple of keys and list indexes, ``("segments", 0, "match", "amount_min")``, the form
FastAPI gives its own request errors; in messages it is written ``segments[0].match.amount_min``.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from recovery.errors import PolicyError

Loc = tuple[str | int, ...]


def as_loc(where: str | int | Sequence[str | int]) -> Loc:
    """A path from a field name, a list index or a path ("": the part as a whole)."""
    if isinstance(where, str):
        return (where,) if where else ()
    if isinstance(where, int):
        return (where,)
    return tuple(where)


def dotted(loc: Sequence[str | int]) -> str:
    """``("segments", 0, "match")`` written as ``segments[0].match``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class FieldProblem:
    loc: Loc  # given as a field name, an index or a path; () is the part as a whole
    msg: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "loc", as_loc(self.loc))

    @property
    def text(self) -> str:
        return f"{dotted(self.loc)} {self.msg}" if self.loc else self.msg


def path(prefix: str | int | Sequence[str | int], key: str | int) -> Loc:
    """``prefix`` followed by a field name or a list index."""
    return (*as_loc(prefix), key)


def under(prefix: str | int | Sequence[str | int],
          problems: Iterable[FieldProblem]) -> list[FieldProblem]:
    """The problems of a nested part, with their paths made relative to the whole."""
    return [FieldProblem((*as_loc(prefix), *problem.loc), problem.msg) for problem in problems]


def problems_of(error: PolicyError) -> list[FieldProblem]:
    """The field problems an error carries (one for the whole, if it names none)."""
    if error.field_errors:
        return [FieldProblem(tuple(item["loc"]), item["msg"]) for item in error.field_errors]
    return [FieldProblem((), str(error))]


def refuse(title: str, problems: Iterable[FieldProblem]) -> None:
    """Raise one ``PolicyError`` naming every problem, if there is any."""
    problems = list(problems)
    if problems:
        raise PolicyError(f"{title}: " + "; ".join(problem.text for problem in problems),
                          field_errors=[{"loc": list(p.loc), "msg": p.msg} for p in problems])
