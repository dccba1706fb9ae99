"""Writes of the partners app, one module per subject (import from the module)."""
