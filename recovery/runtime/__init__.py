"""Plumbing: settings, database, clock, logs, migrations and queue claims.

No business rules live here, and nothing here imports another package of ``recovery``.
"""
