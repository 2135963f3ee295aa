"""Stage 4: the only writer of recovery cases and scheduled actions (fact handlers, planning,
attempts, case store). Must not import ``actions``, ``worker``, ``api``, ``dashboard``, ``cli``
or ``sandbox``.
"""
