"""The live metrics' rollup: every process's figures (levqor.metrics) added into MetricMinute rows
(and the MetricHour rows that sum them, for long reads), the queue depth read each minute, old
rows purged.

Exactly once: on Redis a finished minute is claimed (atomically moved out of reach of new sends),
added into MetricMinute in a transaction that also records the claim as applied (MetricBatch,
unique), then released; a claim found again (its rollup died, or two ran at once) is not added
twice. In the embedded mode the processes' MetricShard rows are added and deleted in one
transaction, locked (SKIP LOCKED on PostgreSQL; SQLite's IMMEDIATE transactions take turns).
Figures that arrive late (a process sent its minute after the rollup passed) are added to the
same row by a later run."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from intelligence.models import MetricBatch, MetricHour, MetricMinute, MetricShard
from jobs.selectors import job_due_count
from levqor import metrics
from levqor.histogram import histogram_merge, histogram_percentile
from levqor.metrics import QUEUE_DEPTH, MetricGroup

SHARDS_PER_TRANSACTION = 2000
# A claim not released this long after it was made belongs to a rollup that died: take it over.
CLAIM_TAKEOVER_SECONDS = 120
# Applied claims are remembered this long (a claim cannot outlive its Redis TTL of two days).
BATCH_MEMORY_DAYS = 7
_FIGURES = ("count", "errors", "sum_ms", "histogram", "p50_ms", "p95_ms", "p99_ms", "value")


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _minute_of(moment: datetime) -> int:
    return int(moment.timestamp() // 60) * 60


def metric_shards_write(groups: list[MetricGroup]) -> None:
    """The embedded mode's store (registered with levqor.metrics): a process's finished minutes, one INSERT."""
    now = timezone.now()
    MetricShard.objects.bulk_create([
        MetricShard(minute=_at(g.minute), series=g.series, labels=g.labels, labels_key=g.labels_key, count=g.count,
                    errors=g.errors, sum_ms=g.sum_ms, histogram={str(b): n for b, n in g.histogram.items()},
                    value=g.value, written_at=now)
        for g in groups])


def metric_minutes_add(groups: Iterable[MetricGroup]) -> int:
    """Add figures into their MetricMinute rows and the MetricHour rows holding those minutes (made
    when missing): counts, errors and sums add up, histograms merge and p50/p95/p99 are read again
    from the merged one; a gauge's reading replaces the minute's and raises the hour's peak. Six
    statements whatever the number of rows; call it inside a transaction. Returns the number of
    minute rows touched."""
    minutes: dict[tuple, list] = {}
    hours: dict[tuple, list] = {}
    for g in groups:
        _combine(minutes, (_at(g.minute), g.series, g.labels_key), g, gauge=_last)
        _combine(hours, (_at(g.minute - g.minute % 3600), g.series, g.labels_key), g, gauge=_peak)
    if not minutes:
        return 0
    touched = _rows_add(MetricMinute, "minute", minutes, gauge=_last)
    _rows_add(MetricHour, "hour", hours, gauge=_peak)
    return touched


def _last(old: float | None, new: float) -> float:
    return new


def _peak(old: float | None, new: float) -> float:
    return new if old is None else max(old, new)


def _combine(into: dict, key: tuple, g: MetricGroup, *, gauge) -> None:
    figures = into.get(key)
    if figures is None:
        figures = into[key] = [g.labels, 0, 0, 0.0, {}, None]
    figures[1] += g.count
    figures[2] += g.errors
    figures[3] += g.sum_ms
    for bucket, n in g.histogram.items():
        figures[4][int(bucket)] = figures[4].get(int(bucket), 0) + int(n)
    if g.value is not None:
        figures[5] = gauge(figures[5], g.value)


def _rows_add(model, at: str, combined: dict[tuple, list], *, gauge) -> int:
    """Add combined figures {(time, series, labels_key): [labels, count, errors, sum_ms, histogram,
    value]} into rows of `model` (MetricMinute by "minute", MetricHour by "hour")."""
    model.objects.bulk_create(
        [model(**{at: moment}, series=series, labels_key=labels_key, labels=figures[0])
         for (moment, series, labels_key), figures in combined.items()], ignore_conflicts=True)
    rows = (model.objects.select_for_update()
            .filter(**{f"{at}__in": {k[0] for k in combined}}, series__in={k[1] for k in combined},
                    labels_key__in={k[2] for k in combined})
            .order_by(at, "series", "labels_key"))
    changed = []
    for row in rows:
        figures = combined.get((getattr(row, at), row.series, row.labels_key))
        if figures is None:  # a row of the same times and series, not ours
            continue
        _, count, errors, sum_ms, histogram, value = figures
        row.count += count
        row.errors += errors
        row.sum_ms += sum_ms
        merged = histogram_merge([row.histogram, histogram])
        row.histogram = {str(bucket): merged[bucket] for bucket in sorted(merged)}
        row.p50_ms, row.p95_ms, row.p99_ms = (histogram_percentile(merged, q) for q in (50, 95, 99))
        if value is not None:
            row.value = gauge(row.value, value)
        changed.append(row)
    model.objects.bulk_update(changed, _FIGURES, batch_size=200)  # CASE WHEN grows with the square of a batch
    return len(changed)


def _group_of(shard: MetricShard) -> MetricGroup:
    return MetricGroup(_minute_of(shard.minute), shard.series, shard.labels_key, shard.labels, shard.count,
                       shard.errors, shard.sum_ms, shard.histogram, shard.value)


def _rollup_shards(*, before: datetime) -> int:
    rows = 0
    while True:
        with transaction.atomic():
            shards = list(MetricShard.objects.select_for_update(skip_locked=True).filter(minute__lt=before)
                          .order_by("id")[:SHARDS_PER_TRANSACTION])
            if shards:
                rows += metric_minutes_add(_group_of(shard) for shard in shards)
                MetricShard.objects.filter(pk__in=[shard.pk for shard in shards]).delete()
        if len(shards) < SHARDS_PER_TRANSACTION:
            return rows


def _claim_apply(claim: metrics.Claim) -> int:
    rows = 0
    if not MetricBatch.objects.filter(batch=claim.batch).exists():
        groups = metrics.metrics_claim_read(claim)
        try:
            with transaction.atomic():
                MetricBatch.objects.create(batch=claim.batch, applied_at=timezone.now())
                rows = metric_minutes_add(groups)
        except IntegrityError:
            if not MetricBatch.objects.filter(batch=claim.batch).exists():
                raise
            # Another rollup applied this claim meanwhile: nothing to add.
    metrics.metrics_claim_release(claim)
    return rows


def _rollup_redis(*, before: int) -> int:
    claims = metrics.metrics_claims_left(older_than_seconds=CLAIM_TAKEOVER_SECONDS)
    claims += metrics.metrics_claim_finished(before=before)
    return sum(_claim_apply(claim) for claim in claims)


def queue_depth_record(*, now: datetime) -> int:
    """Read the queue's depth (due, queued jobs) into this minute's "queue.depth" gauge."""
    depth = job_due_count(now=now)
    with transaction.atomic():
        metric_minutes_add([MetricGroup(_minute_of(now), QUEUE_DEPTH, "", {}, 0, 0, 0.0, {}, float(depth))])
    return depth


def metrics_rollup(*, now: datetime | None = None) -> dict:
    """Every minute (schedule "intelligence.rollup"): add every finished minute waiting in the store
    into MetricMinute, and read the queue depth. Safe to run again, or twice at once."""
    if not settings.METRICS_ENABLED:
        return {"enabled": False}
    now = now or timezone.now()
    metrics.metrics_flush()  # this worker's own finished minutes first
    before = _minute_of(now)
    if metrics.metrics_on_redis():
        rows = _rollup_redis(before=before)
    else:
        rows = _rollup_shards(before=_at(before))
    return {"rows": rows, "queue_depth": queue_depth_record(now=now)}


def metrics_purge(*, now: datetime | None = None) -> dict:
    """Daily (schedule "intelligence.metrics_purge"): MetricMinute and MetricHour rows older than
    METRICS_RETENTION_DAYS go, and the record of claims applied long ago."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.METRICS_RETENTION_DAYS)
    minutes, _ = MetricMinute.objects.filter(minute__lt=cutoff).delete()
    hours, _ = MetricHour.objects.filter(hour__lt=cutoff).delete()
    shards, _ = MetricShard.objects.filter(minute__lt=cutoff).delete()
    batches, _ = MetricBatch.objects.filter(applied_at__lt=now - timedelta(days=BATCH_MEMORY_DAYS)).delete()
    return {"minutes": minutes, "hours": hours, "shards": shards, "batches": batches}
