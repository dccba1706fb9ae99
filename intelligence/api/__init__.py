"""intelligence's API: thin DRF views, one module per subject."""
