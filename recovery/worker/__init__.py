"""The only user of APScheduler: the list of recurring jobs and the scheduler that ticks them.

The database is the schedule; jobs are plain functions of the wired services.
"""
