"""The operations back-office in Django admin, one module per subject (each registers its models)."""

from intelligence.admin import alerts, watch  # noqa: F401
