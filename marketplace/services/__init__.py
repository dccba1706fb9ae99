"""Writes and side effects of marketplace, one module per subject; import from the module."""
