"""intelligence's writes and side effects, one module per subject; import from the module."""
