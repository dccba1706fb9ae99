"""The Operations back-office in Django admin, one module per subject (as models/ and services/).
A new subject adds its module here; an intelligence/admin.py beside this package would never be
imported (the package wins), which tests/intelligence/test_flags.py checks."""

from intelligence.admin import (  # noqa: F401  (each registers its pages)
    alerts,
    autoscale,
    flags,
    growth,
    ledger,
    notion,
    pricing,
    reports,
    runtime,
    stabilize,
    watch,
)
