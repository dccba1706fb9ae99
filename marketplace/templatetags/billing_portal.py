"""{% billing_portal_usable as can_manage %}: whether the signed-in user has a live Stripe customer,
so the developer page offers Manage billing (the portal) whatever the tier: a user whose grace
ran out is in sandbox yet has a past-due subscription to pay or cancel there. One query."""

from django import template

from marketplace.models import StripeCustomer

register = template.Library()


@register.simple_tag(takes_context=True)
def billing_portal_usable(context) -> bool:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    return StripeCustomer.objects.filter(user=user, livemode=True).exists()
