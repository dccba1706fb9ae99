"""The event types an endpoint may subscribe to. Each app registers its own from its
AppConfig.ready() (jobs: job.completed, job.failed; partners: partner.*, review.due,
audit.completed; the marketplace later), so this engine names none of them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    audiences: tuple[str, ...]  # which endpoints may subscribe: "account", "partner"


_registry: dict[str, EventType] = {}


def webhook_event_type_register(*, name: str, description: str, audiences: tuple[str, ...]) -> None:
    """Make `name` an event type endpoints of these audiences may subscribe to (idempotent)."""
    _registry[name] = EventType(name=name, description=description, audiences=tuple(audiences))


def webhook_event_types(*, audience: str | None = None) -> list[EventType]:
    """The registered event types, sorted by name; only those of `audience` when given."""
    return sorted((t for t in _registry.values() if audience is None or audience in t.audiences),
                  key=lambda t: t.name)


def webhook_event_type(name: str) -> EventType | None:
    return _registry.get(name)


# Who may own endpoints of an audience: "account" is every account; "partner" is decided by the
# partners app (an account owning a partner), registered from its ready().
_audience_checks: dict = {}


def webhook_audience_register(audience: str, *, may_use) -> None:
    """may_use(user) -> whether `user` may have endpoints of `audience`."""
    _audience_checks[audience] = may_use


def webhook_audience_allowed(user, audience: str) -> bool:
    if audience == "account":
        return True
    check = _audience_checks.get(audience)
    return bool(check and check(user))
