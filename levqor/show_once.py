"""A secret shown once on a page (a new API key, a partner credential's secret), by
Post/Redirect/Get: the POST puts it in the session and redirects; the next page view takes it
out and shows it, so a reload neither sends the form again nor shows the secret again."""

from django.utils import timezone

# A secret waits in the session for its one page view no longer than this: a redirect never
# followed must not leave a usable secret in the session.
SHOW_ONCE_SECONDS = 300


def show_once_put(request, slot: str, value: dict) -> None:
    """Keep `value` (JSON-able) in the session under `slot` for the next page view."""
    request.session[slot] = {**value, "at": timezone.now().timestamp()}


def show_once_take(request, slot: str) -> dict | None:
    """What show_once_put left under `slot`, removed from the session; None when nothing is there
    or it waited too long (the secret stays usable: its owner can rotate it)."""
    value = request.session.pop(slot, None)
    if value and timezone.now().timestamp() - value.get("at", 0) > SHOW_ONCE_SECONDS:
        return None
    return value
