"""{% stabilize_banner %}: while stabilize mode is on, every admin page says so (since when, by
whom, why), read from the cached state (no query once cached). Shown to staff only: the admin's
sign-in page extends the same template."""

from datetime import datetime

from django import template

from intelligence.services.stabilize import stabilize_state

register = template.Library()


@register.inclusion_tag("intelligence/admin/stabilize_banner.html", takes_context=True)
def stabilize_banner(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"state": None}
    state = stabilize_state()
    if not state["enabled"]:
        return {"state": None}
    return {"state": state, "since": datetime.fromisoformat(state["since"]) if state["since"] else None}
