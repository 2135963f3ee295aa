"""Churn-prevention offers: which offer a customer's segment gets (``eligibility``, pure), the
``offer`` rows that record each one shown, accepted, applied and recovered (``records``).

Applying an accepted offer through Stripe is an action step (``recovery.actions.offer``), and its
retry or pause is planned by the engine. Must not import ``messaging``, ``dunning`` or
``scoring``.
"""
