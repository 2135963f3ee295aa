"""Every object the fake Stripe holds, kept as the JSON dicts it serves, with ids, lookups,
``expand`` and list pages. It owns no business rule: billing and handlers decide what changes.

Objects are stored once and served by reference under the fake's lock; callers that hand an
object out of the lock (introspection, event snapshots) copy or serialise it first.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from recovery.runtime.clock import Clock
from recovery.sandbox.fake_stripe.errors import invalid_request, not_found

DEFAULT_LIMIT = 10
MAX_LIMIT = 100



def unix(moment: datetime) -> int:
    return int(moment.timestamp())


class Ledger:
    """The object store, indexed by id and by customer."""

    def __init__(self, clock: Clock, account_id: str) -> None:
        self.clock = clock
        self.account_id = account_id
        self._objects: dict[str, dict[str, Any]] = {}
        self._counters: dict[tuple[str, str], int] = defaultdict(int)
        # customer id -> object kind -> ids in creation order (lists are served newest first)
        self._by_customer: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self._by_kind: dict[str, list[str]] = defaultdict(list)

    def now(self) -> int:
        return unix(self.clock.now())

    def new_id(self, prefix: str, scope: str = "") -> str:
        """A deterministic id: the n-th object of ``prefix`` within ``scope``. Scoping by the
        owner (a subscriber, an invoice) keeps ids stable however the owners interleave."""
        key = (prefix, scope)
        self._counters[key] += 1
        seed = f"{prefix}:{scope}:{self._counters[key]}".encode()
        return f"{prefix}_{hashlib.blake2b(seed, digest_size=12).hexdigest()}"

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._objects[obj["id"]] = obj
        kind = obj["object"]
        self._by_kind[kind].append(obj["id"])
        customer = obj.get("customer")
        if isinstance(customer, str):
            self._by_customer[customer][kind].append(obj["id"])
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        return self._objects.get(object_id)

    def get(self, object_id: str, kind: str, param: str = "id") -> dict[str, Any]:
        """The object, or Stripe's 404 ``resource_missing`` when no ``kind`` has that id."""
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise not_found(kind, object_id, param)
        return obj

    def of_customer(self, customer_id: str, kind: str) -> list[dict[str, Any]]:
        ids = self._by_customer.get(customer_id, {}).get(kind, [])
        return [self._objects[i] for i in ids]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [self._objects[i] for i in self._by_kind.get(kind, [])]

    def expand(self, obj: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
        for path in paths:
            obj = _expand_path(obj, path.split("."), self.find)
        return obj


def _expand_path(node: Any, parts: Sequence[str],
                 find: Callable[[str], dict[str, Any] | None]) -> Any:
    """A copy of ``node`` with the id at ``parts`` replaced by its object; the stored objects
    themselves are never modified. ``data`` steps into every item of a list object."""
    if not isinstance(node, dict) or not parts:
        return node
    head, rest = parts[0], parts[1:]
    if head == "data" and node.get("object") == "list":
        return {**node, "data": [_expand_path(item, rest, find) for item in node["data"]]}
    value = node.get(head)
    if isinstance(value, str):
        value = find(value)
    if not isinstance(value, dict):
        return node  # null, or an id of nothing stored: Stripe leaves it as it is
    return {**node, head: _expand_path(value, rest, find)}


def expand_params(params: dict[str, Any]) -> list[str]:
    value = params.get("expand") or []
    return [value] if isinstance(value, str) else list(value)


def list_page(items: Sequence[dict[str, Any]], url: str,
              params: dict[str, Any]) -> dict[str, Any]:
    """One page of a Stripe list object, ``items`` already newest first. Pagination follows
    ``starting_after`` / ``ending_before``, as the SDK's ``auto_paging_iter`` sends them."""
    limit = _limit(params.get("limit"))
    after, before = params.get("starting_after"), params.get("ending_before")
    if after:
        items = items[_position(items, after, "starting_after") + 1:]
    elif before:
        newer = items[:_position(items, before, "ending_before")]
        data = list(newer[-limit:])
        return {"object": "list", "data": data, "has_more": len(newer) > limit, "url": url}
    data = list(items[:limit])
    return {"object": "list", "data": data, "has_more": len(items) > limit, "url": url}


def _limit(raw: Any) -> int:
    try:
        limit = int(raw) if raw not in (None, "") else DEFAULT_LIMIT
    except (TypeError, ValueError):
        raise invalid_request("Invalid integer: limit", param="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_request(
            f"This value must be greater than or equal to 1 and less than or equal to "
            f"{MAX_LIMIT}.", param="limit",
        )
    return limit


def _position(items: Sequence[dict[str, Any]], object_id: str, param: str) -> int:
    for index, item in enumerate(items):
        if item["id"] == object_id:
            return index
    raise invalid_request(f"No such object: '{object_id}'", code="resource_missing", param=param)
