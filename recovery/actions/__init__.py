"""Stage 6: run due scheduled actions (claim, call out, report the outcome to the engine), one
module per kind of step. Must not import ``worker``, ``api``, ``cli`` or ``sandbox``.
"""
