"""intelligence's section of the personal data registry (accounts.personal_data): what an operator
did in the back-office. Exported to them; on erasure the rows stay (they are the operations audit)
and keep naming only the account, which the erasure anonymises, so they name nobody."""

from accounts.personal_data import personal_data_register
from intelligence.models import Alert, FlagChange, RuntimeSettingChange, StabilizeEvent, TuneSuggestion


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


def intelligence_personal_data_register() -> None:
    # No erase: the operations audit is kept; it names the account only, which erasure anonymises.
    personal_data_register(name="operations", export=operations_export)
