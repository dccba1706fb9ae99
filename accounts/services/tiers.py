"""A user's tier: the one write other apps (billing) call to move it, audited."""

from django.db import transaction

from accounts.models import TierChange, User
from levqor.errors import AppError, ErrorCode


def user_tier_set(*, user: User, tier: str, reason: str, source: str, actor: User | None = None) -> TierChange | None:
    """Move the user to `tier` (sandbox / pro / enterprise), recorded as a TierChange with the
    reason and what caused it. None when the user is on that tier already (nothing recorded).
    The row is locked, so two events moving one user serialise; the user's cached keys are
    forgotten by the post_save receiver, so quotas and rate limits follow at once."""
    if tier not in User.Tier.values:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown tier {tier!r}.",
                       details={"errors": [{"field": "tier", "message": f"One of {', '.join(User.Tier.values)}."}]})
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.tier == tier:
            return None
        old = locked.tier
        locked.tier = tier
        locked.save(update_fields=["tier", "updated_at"])
        user.tier = tier
        return TierChange.objects.create(user=locked, old_tier=old, new_tier=tier, reason=reason[:255],
                                         source=source[:64], actor=actor)
