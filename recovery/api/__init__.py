"""HTTP API routers (FastAPI lives here and in ``recovery/app.py`` only)."""
