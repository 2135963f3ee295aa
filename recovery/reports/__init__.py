"""Read models shared by the CLI, the API and the dashboard (cases, recovery rates).

Read-only: nothing here writes to the database.
"""
