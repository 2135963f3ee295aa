"""Pure rules: decline codes and their classification, card-network limits, retry policies and
their segments, and the field problems their validation reports.

No database, clock or I/O: every function takes what it judges as arguments. Imports nothing of
``recovery`` but ``recovery.errors``.
"""
