"""Partners in Django admin, one module per subject (registry + review, credentials, governance,
audits). A new subject adds its module here."""

from partners.admin import credentials  # noqa: E402, F401  (the signed part)
