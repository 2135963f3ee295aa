"""Read models shared by the CLI, the API, the dashboard and the simulation report: cases,
policies and their previews, offers, A/B experiments between policy versions and their statistics,
and the recovery-rate metrics (one module per family: ``recovery_rates``, ``recovery_curve``,
``recovered_by``, ``effort``, ``at_risk``, ``offenders``, ``channels``; the shared definitions in
``cohort``). Every function takes the account it is about.

Read-only: nothing here writes to the database. It never imports the sandbox or the doors.
"""
