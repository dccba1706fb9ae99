"""An alert when a customer disputes a charge (marketplace's charge_disputed): money may be taken
back and the dispute must be answered within Stripe's deadline. Critical for live money, a
warning for test mode; one alert per dispute (dedup by its id)."""

import logging

from levqor.money import minor_display
from marketplace.models import StripeEvent
from marketplace.signals import charge_disputed

logger = logging.getLogger("levqor.intelligence")


def _charge_disputed(sender, dispute_id, charge_id, amount_minor, currency, reason, livemode, **kwargs) -> None:
    from intelligence.services.alerts import alert_raise

    alert_raise(source="billing", severity="critical" if livemode else "warning",
                title=f"Stripe dispute {dispute_id}: {minor_display(amount_minor, currency)} {currency.upper()}"
                      f"{'' if livemode else ' (test mode)'}"[:200],
                body=f"A customer disputed charge {charge_id} ({reason or 'no reason given'}). Answer it in the "
                     "Stripe dashboard before its deadline, or the amount is lost.",
                dedup_key=f"billing:dispute:{dispute_id}")


def billing_alerts_connect() -> None:
    charge_disputed.connect(_charge_disputed, sender=StripeEvent, dispatch_uid="intelligence-charge-disputed")
