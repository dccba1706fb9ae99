"""The one outbound-webhook engine (ARCHITECTURE.md): endpoints, deliveries and their attempts,
Standard Webhooks signing with secret rotation, the retry schedule. Job callbacks, partners and
the marketplace all send through it; it knows no app (an endpoint's owner is AUTH_USER_MODEL)."""

# accounts' first migration names levqor.webhooks.webhook_secret_generate (from when this package
# was one module); migrations are history, so the name stays importable here.
from levqor.webhooks.signing import webhook_secret_generate  # noqa: E402, F401
