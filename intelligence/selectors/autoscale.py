"""Reads of the autoscale decisions: the latest, the one before a minute, the recent ones, and the
history a chart draws (aggregated per step in SQL)."""

from datetime import UTC, datetime

from django.db.models import FloatField, IntegerField, Max
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from intelligence.models import AutoscaleDecision
from intelligence.selectors.metrics import StepStart


def autoscale_decision_latest() -> AutoscaleDecision | None:
    return AutoscaleDecision.objects.order_by("-minute").first()


def autoscale_decision_before(minute: datetime) -> AutoscaleDecision | None:
    """The decision taken last before this minute."""
    return AutoscaleDecision.objects.filter(minute__lt=minute).order_by("-minute").first()


def autoscale_decisions_recent(*, limit: int) -> list[AutoscaleDecision]:
    return list(AutoscaleDecision.objects.order_by("-minute")[:limit])


def autoscale_history(*, since: datetime, until: datetime, step_seconds: int) -> dict[datetime, dict]:
    """Per step of `step_seconds` in [since, until) that has decisions: the most workers wanted, the
    highest p95 and the deepest queue sampled. One query."""
    rows = (AutoscaleDecision.objects.filter(minute__gte=since, minute__lt=until).order_by()
            .annotate(step=StepStart("minute", step_seconds)).values("step")
            .annotate(workers=Max("desired_workers"),
                      p95=Max(Cast(KT("metrics__p95_ms"), FloatField())),
                      queue=Max(Cast(KT("metrics__queue_depth"), IntegerField())))
            .values_list("step", "workers", "p95", "queue"))
    return {datetime.fromtimestamp(int(step), UTC): {"workers": workers, "p95_ms": p95, "queue_depth": queue}
            for step, workers, p95, queue in rows}
