"""Read models shared by the CLI, the API and the dashboard (cases, recovery rates, policies
and their previews, offers, A/B experiments between policy versions and their statistics).

Read-only: nothing here writes to the database.
"""
