"""Partners in Django admin, one module per subject (registry + review, credentials, governance,
audits). A new subject adds its module here."""

from partners.admin import audits, credentials, governance, registry  # noqa: F401  (each registers its pages)
