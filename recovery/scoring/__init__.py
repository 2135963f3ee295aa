"""The engine's side of smart timing: which allowed hour to spend a retry at, or none.

``decision`` values the candidate hours by expected value over the remaining attempts,
``prior`` is the decline-aware cold-start chance of success, ``learned`` scores the hours with an
account's promoted artifact (``ml``), ``exploration`` sometimes tries another good hour and logs
its probability, and ``smart`` puts them together behind ``recovery.rules.policy.Scorer``.

May import ``ml``, ``models``, ``recovery.rules`` and ``recovery.runtime``; never the messaging,
offers or dunning packages, nor the engine (which calls it through the ``Scorer`` protocol).
"""
