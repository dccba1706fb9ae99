"""Installing a listing on a buyer's account (the workflow partner.<slug> appears: modules.py) and
uninstalling it. A listing's downloads count buyers: the first live-mode install of a (user,
listing) adds one, in the same transaction, with an F() update so concurrent installs all count; a
test-mode install or a reinstall after an uninstall adds none (they were inflating the number)."""

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from marketplace.models import Installation, Listing, Order


def listing_install(*, user, listing: Listing, livemode: bool, order: Order | None = None) -> tuple[Installation, bool]:
    """The buyer's live install of `listing` in this mode, created if there is none: (install,
    created). Called for a free listing at once and for a paid one when its order completes; an
    order completed twice (a repeated webhook) finds the install there and adds no download; only
    the user's first live-mode install of the listing is a download."""
    existing = Installation.objects.filter(user=user, listing=listing, livemode=livemode,
                                           uninstalled_at__isnull=True).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            install = Installation.objects.create(user=user, listing=listing, livemode=livemode, order=order)
            first_live = livemode and not (Installation.objects.filter(user=user, listing=listing, livemode=True)
                                           .exclude(pk=install.pk).exists())
            if first_live:
                Listing.objects.filter(pk=listing.pk).update(downloads=F("downloads") + 1)
    except IntegrityError:  # installed at the same moment by another request (installation_once_live)
        return Installation.objects.get(user=user, listing=listing, livemode=livemode, uninstalled_at__isnull=True), False
    return install, True


def listing_uninstall(*, user, installation: Installation) -> Installation:
    """Remove the module from the buyer's account: its workflow is gone for new jobs at once. The row
    stays (an order may point at it; a reinstall makes a new one). Someone else's install is 404."""
    if installation.user_id != user.pk:
        raise AppError(ErrorCode.NOT_FOUND, "No such installation.", details={"installation_id": installation.pk})
    now = timezone.now()
    Installation.objects.filter(pk=installation.pk, uninstalled_at__isnull=True).update(uninstalled_at=now)
    installation.refresh_from_db(fields=["uninstalled_at"])
    return installation
