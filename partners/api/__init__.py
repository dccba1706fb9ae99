"""The partners API, one module per subject."""
