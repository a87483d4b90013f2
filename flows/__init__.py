"""Prefect flows (curate) and the `spacevista` command line."""
