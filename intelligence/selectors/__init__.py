"""intelligence's reads that more than one caller needs, one module per subject; import from the module."""
