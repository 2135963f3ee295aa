"""Stage 4: the only writer of recovery cases and scheduled actions (fact handlers, planning,
attempts, case store, and the history backfill's import of past invoices), and of an account's
policy and its versions. Must not import
``actions``, ``worker``, ``api``, ``dashboard``, ``cli`` or ``sandbox``.
"""
