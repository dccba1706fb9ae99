"""intelligence's sections of the personal data registry (accounts.personal_data).

operations: what an operator did in the back-office. Exported to them; on erasure the rows stay
(they are the operations audit) and keep naming only the account, which the erasure anonymises,
so they name nobody.

growth: the user's funnel events (signup with its attribution, first payment, active days) and
the visits of their visitor id. Exported, and deleted on erasure."""

from django.db.models import Q

from accounts.personal_data import Erasure, personal_data_register
from intelligence.models import Alert, FlagChange, GrowthEvent, RuntimeSettingChange, StabilizeEvent, TuneSuggestion


def operations_export(*, user) -> dict:
    return {
        "flag_changes": list(FlagChange.objects.filter(actor=user).order_by("at")
                             .values("at", "kind", "name", "old", "new", "source", "reason")),
        "stabilize_turns": list(StabilizeEvent.objects.filter(actor=user).order_by("at")
                                .values("at", "enabled", "source", "reason")),
        "runtime_setting_changes": list(RuntimeSettingChange.objects.filter(actor=user).order_by("at")
                                        .values("at", "name", "old_value", "new_value", "source", "reason")),
        "alerts_acknowledged": list(Alert.objects.filter(acknowledged_by=user).order_by("acknowledged_at")
                                    .values("title", "severity", "acknowledged_at")),
        "alerts_resolved": list(Alert.objects.filter(resolved_by=user).order_by("resolved_at")
                                .values("title", "severity", "resolved_at")),
        "tune_suggestions_applied": list(TuneSuggestion.objects.filter(applied_by=user).order_by("applied_at")
                                         .values("setting", "current", "suggested", "applied_at")),
    }


def _growth_events_of(user):
    """The user's growth events, and the visits of the anonymous visitor ids their events carry
    (the visits before they signed up, made in the browser they signed up with)."""
    visitors = (GrowthEvent.objects.filter(user=user).exclude(visitor="").values_list("visitor", flat=True)
                .distinct())
    return GrowthEvent.objects.filter(Q(user=user) | Q(kind=GrowthEvent.Kind.VISIT, visitor__in=visitors))


def growth_export(*, user) -> list[dict]:
    return list(_growth_events_of(user).order_by("at", "id")
                .values("kind", "day", "at", "visitor", "source", "campaign", "medium"))


def growth_erase(*, user, erasure: Erasure) -> None:
    """The events go. The daily tables keep their counts (they name nobody); a day computed again
    after the erasure counts without them."""
    _growth_events_of(user).delete()


def intelligence_personal_data_register() -> None:
    # No erase: the operations audit is kept; it names the account only, which erasure anonymises.
    personal_data_register(name="operations", export=operations_export)
    personal_data_register(name="growth", export=growth_export, erase=growth_erase)
