"""The listing page's Buy form: POST /marketplace/<slug>/buy (session + CSRF). A free listing is
installed and the buyer sent back to the listing with a message; a paid one answers 303 to its
Stripe Checkout page. Errors come back as a message on the listing page, never a 500."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from levqor.errors import AppError
from marketplace.models import Listing
from marketplace.services.orders import order_start


@login_required
@require_POST
def listing_buy(request, slug: str):
    back = f"/marketplace/{slug}"
    listing = Listing.objects.filter(slug=slug).first()
    if listing is None:
        messages.error(request, "No such listing.")
        return redirect("/marketplace")
    try:
        order = order_start(buyer=request.user, listing=listing, livemode=True)
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    if order.status == order.Status.COMPLETED:
        messages.success(request, f"{listing.name} is installed: run it as the workflow {listing.workflow_name}.")
        return redirect(back)
    response = redirect(order.checkout_url)
    response.status_code = 303  # after a POST: the browser GETs Stripe's page
    return response
