"""Which retry policy a simulation runs: ``none``, ``fixed:<days>``, ``default``,
``retries-only``, a saved account policy, and the comparison set (no retry, peers' fixed
schedules, the engine's own with and without customer messages); and the offers a run's
messages may carry."""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import select

from models import Account
from recovery.errors import PolicyError
from recovery.offers.eligibility import OffersPolicy
from recovery.rules.policy import RetryPolicy
from recovery.runtime.db import make_engine, session_factory

# Every policy gets the same 30-day window, the span the recovery metrics count.
WINDOW_DAYS = 30

# Published fixed schedules of other billing systems, as day offsets from the first failure.
PEER_SCHEDULES = {
    "killbill 8/16/24": (8, 16, 24),
    "fixed 3/8/15": (3, 8, 15),
    "fixed 1/3/5/7": (1, 3, 5, 7),
    "fixed 1/3/7/14": (1, 3, 7, 14),
    "chargebee 1/4/7/8/9": (1, 4, 7, 8, 9),
    "7 over 30 days": (2, 6, 10, 14, 18, 23, 28),
}

ORACLE = "oracle"
RETRIES_ONLY = "retries only"
# Rows of ``--compare`` that are not fixed schedules (benchmarks find the best fixed one).
NOT_A_SCHEDULE = frozenset({"none", "smart", ORACLE, RETRIES_ONLY})
# Policies whose runs send the customer nothing: no notice, no reminder, no offer, no receipt.
SILENT = frozenset({RETRIES_ONLY})
# The offers of the sandbox's runs: a pause for yearly plans and long-standing customers, a
# small discount for monthly ones, from the reminder (a week after the failure, when customers
# who would simply pay have mostly paid) and again in the final notice. On the built-in world a
# larger discount (25% for 3 months) gave away more than the extra recoveries brought in.
SANDBOX_OFFERS = {"rules": [
    {"kind": "pause", "months": 2, "plan_interval": "year",
     "in_messages": ["reminder", "final_notice"]},
    {"kind": "pause", "months": 1, "min_tenure_days": 730,
     "in_messages": ["reminder", "final_notice"]},
    {"kind": "discount", "percent_off": 10, "months": 2, "plan_interval": "month",
     "in_messages": ["reminder", "final_notice"]},
]}
# Worlds that can look ahead for the oracle row (``BuiltinWorld.would_succeed``).
LOOK_AHEAD_WORLDS = frozenset({"recovery.sandbox.world.builtin:make_world",
                               "recovery.sandbox.world.builtin:make_alternate_world"})


def no_retry() -> RetryPolicy:
    return RetryPolicy(name="none", offsets_days=(), max_retries=0, window_days=WINDOW_DAYS)


def fixed(offsets, name: str | None = None) -> RetryPolicy:
    """A peer-style schedule: retries at the failure's own time of day, no local alignment."""
    offsets = tuple(float(x) for x in offsets)
    label = name or "fixed:" + ",".join(f"{x:g}" for x in offsets)
    return RetryPolicy(name=label, offsets_days=offsets, max_retries=len(offsets),
                       local_hour=None, window_days=WINDOW_DAYS)


def engine_default() -> RetryPolicy:
    return replace(RetryPolicy(), name="engine default", window_days=WINDOW_DAYS)


def retries_only() -> RetryPolicy:
    """The engine's default schedule with no customer messages at all: what the retries alone
    recover, to measure what communication and offers add."""
    return replace(engine_default(), name=RETRIES_ONLY)


def sends_messages(policy: RetryPolicy) -> bool:
    return policy.name not in SILENT


def offers_for(policy: RetryPolicy) -> OffersPolicy:
    """The offers a run of ``policy`` may make: the sandbox's, unless it sends no messages."""
    if not sends_messages(policy):
        return OffersPolicy()
    return OffersPolicy.from_mapping(SANDBOX_OFFERS)


def smart() -> RetryPolicy:
    """The engine's default policy with smart timing: same budget, window and quiet hours."""
    return replace(engine_default(), name="smart", timing="smart")


def oracle() -> RetryPolicy:
    """The oracle row: the engine's default budget and window, each retry at the first allowed
    hour the world would accept (``recovery/sandbox/oracle.py``), never exploring."""
    return replace(engine_default(), name=ORACLE, timing="smart", exploration=0.0)


def is_oracle(policy: RetryPolicy) -> bool:
    return policy.name == ORACLE


def resolve_policy(spec: str, database_url: str | None = None) -> RetryPolicy:
    if spec == "none":
        return no_retry()
    if spec in ("default", "engine"):
        return engine_default()
    if spec in ("retries-only", RETRIES_ONLY):
        return retries_only()
    if spec.startswith("fixed:"):
        try:
            return fixed(x for x in spec.removeprefix("fixed:").split(",") if x.strip())
        except ValueError:
            raise PolicyError(f"invalid policy {spec!r}: offsets must be numbers") from None
    if spec == "smart":
        return smart()
    if spec == ORACLE:
        return oracle()
    if database_url:
        saved = _saved_policy(spec, database_url)
        if saved is not None:
            return replace(saved, window_days=WINDOW_DAYS)
    raise PolicyError(f"unknown policy {spec!r}: use none, fixed:<days>, default, "
                      "retries-only, smart, oracle or a saved name")


def _saved_policy(name: str, database_url: str) -> RetryPolicy | None:
    engine = make_engine(database_url, pool_size=1)
    try:
        with session_factory(engine)() as session:
            for account in session.exec(select(Account)):
                if account.policy and account.policy.get("name") == name:
                    return RetryPolicy.from_dict(account.policy)
    except Exception:  # noqa: BLE001 - no database or no table: the name is simply unknown
        return None
    finally:
        engine.dispose()
    return None


def comparison_policies(world: str | None = None) -> list[RetryPolicy]:
    """No retry, the peers' schedules, the engine's default with and without customer messages,
    smart timing, and the oracle row when ``world`` can look ahead."""
    policies = [no_retry(), *(fixed(days, name) for name, days in PEER_SCHEDULES.items()),
                engine_default(), retries_only(), smart()]
    return policies + ([oracle()] if world in LOOK_AHEAD_WORLDS else [])
