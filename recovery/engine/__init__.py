"""Stage 4: the only writer of recovery cases and scheduled actions (fact handlers, planning,
attempts, case store, the history backfill's import of past invoices), of an account's policy
and its versions, and of its A/B experiments. Must not import ``actions``,
``worker``, ``api``, ``dashboard``, ``cli`` or ``sandbox``.
"""
