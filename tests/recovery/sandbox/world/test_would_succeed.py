"""The built-in world's look at its own future: right about the next charge, and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recovery.sandbox.world.builtin import BuiltinWorld, make_alternate_world, make_world
from recovery.sandbox.world.contract import CardUpdated, Message

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def dunning_run(world: BuiltinWorld, probe: bool, days: int = 45) -> tuple[list, list, int]:
    """Renewals and retries every two days for ``days`` days, in time order, with a message on
    every first failure. With ``probe``, before each real charge the world is asked about many
    other charges: later moments, other invoices, invoices never charged (whose first attempt may
    kill a card), other cards. Returns the real answers, the customers' actions, and how often
    the look-ahead for the very charge about to be made agreed with its answer."""
    subs = {s.id: s for s in world.subscribers()}
    cards = {s.id: s.card for s in subs.values()}
    due = sorted((s.first_renewal_at, s.id, 0) for s in subs.values()
                 if s.first_renewal_at < START + timedelta(days=days))
    answers, actions, agreed = [], [], 0
    clock = START
    while clock < START + timedelta(days=days):
        for action in world.actions(clock, clock + HOUR):
            actions.append(action)
            if isinstance(action, CardUpdated):
                cards[action.subscriber_id] = action.card
        clock += HOUR
        while due and due[0][0] < clock:
            at, sub_id, tries = due.pop(0)
            sub, card = subs[sub_id], cards[sub_id]
            args = (sub_id, f"in_{sub_id}", card.fingerprint, sub.amount, sub.currency)
            if probe:
                expected = world.would_succeed(*args, at)
                for ahead in (0, 1, 5, 26, 24 * 9, 24 * 30):
                    world.would_succeed(*args, at + ahead * HOUR)
                    world.would_succeed(sub_id, f"in_{sub_id}_future_{ahead}", card.fingerprint,
                                        sub.amount, sub.currency, at + ahead * HOUR)
                other = subs[min(subs)]
                world.would_succeed(other.id, f"in_{sub_id}_other", cards[other.id].fingerprint,
                                    other.amount, other.currency, at + 3 * DAY)
                world.would_succeed(sub_id, f"in_{sub_id}", "not-a-card", sub.amount,
                                    sub.currency, at)
            result = world.charge(*args, at)
            if probe:
                agreed += expected == result.paid
            answers.append((sub_id, tries, at, result))
            if not result.paid and tries == 0:
                world.message(Message(sub_id, f"in_{sub_id}", "payment_failed", "email", at))
            if not result.paid and tries < 4:
                due.append((at + 2 * DAY + 3 * HOUR, sub_id, tries + 1))
                due.sort()
    return answers, actions, agreed


def test_asking_changes_no_later_answer_and_the_answer_matches_the_charge():
    for factory in (make_world, make_alternate_world):
        probed = factory(seed=7, start=START, subscribers=1500)
        plain = factory(seed=7, start=START, subscribers=1500)
        answers, actions, agreed = dunning_run(probed, probe=True)
        assert (answers, actions) == dunning_run(plain, probe=False)[:2]
        assert sum(not result.paid for *_, result in answers) > 100  # declines were exercised
        assert agreed == len(answers)


def test_a_probe_of_a_first_attempt_that_kills_the_card_does_not_kill_it():
    probed = make_world(seed=11, start=START, subscribers=3000)
    plain = make_world(seed=11, start=START, subscribers=3000)
    later = START + 10 * DAY
    for world, ask in ((probed, True), (plain, False)):
        for sub in world.subscribers():
            if ask:
                for n in range(20):  # many never-charged invoices: some first attempts kill
                    world.would_succeed(sub.id, f"in_probe_{n}", sub.card.fingerprint,
                                        sub.amount, sub.currency, START + n * HOUR)
    answers = [[world.charge(s.id, "in_real", s.card.fingerprint, s.amount, s.currency, later)
                for s in world.subscribers()] for world in (probed, plain)]
    assert answers[0] == answers[1]
    hard = [r for r in answers[1] if r.advice_code == "do_not_try_again"]
    assert hard  # the real charges do meet dead cards, only not ones killed by a probe
