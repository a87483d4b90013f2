"""Pydantic models: the single source of truth for every table; Arrow schemas derive from them."""
