"""FastAPI service (arrives with the API issue)."""
