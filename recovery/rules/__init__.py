"""Pure rules: decline codes and their classification, card-network limits, retry policies.

No database, clock or I/O: every function takes what it judges as arguments. Imports nothing of
``recovery`` but ``recovery.errors``.
"""
