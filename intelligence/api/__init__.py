"""The Operations API: thin DRF views, one module per subject (as accounts/api/)."""
