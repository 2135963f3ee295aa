"""Read models shared by the CLI, the API and the dashboard (cases, recovery rates, policies
and their previews).

Read-only: nothing here writes to the database.
"""
