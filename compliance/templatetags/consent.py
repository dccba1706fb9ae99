from django import template

from compliance.selectors import cookie_consent_from_request

register = template.Library()


@register.simple_tag(takes_context=True)
def cookie_consent(context):
    """{"decided": bool, "choices": {...}} for the banner: decided only for the current policy version."""
    request = context.get("request")
    consent = cookie_consent_from_request(request) if request is not None else None
    if consent is None or not consent.current:
        return {"decided": False, "choices": {}}
    return {"decided": True, "choices": consent.choices}
