"""The marketplace app's admin: billing, and the marketplace (listings and their review, orders,
installs, Connect accounts and payouts), one module each."""

from marketplace.admin import billing, listings  # noqa: F401
