"""A fixed latency histogram whose buckets are 10 % apart, so any percentile read from it is
within 10 % of the true value, and histograms from several processes or minutes add up exactly.

Bucket i holds values in [FLOOR_MS * RATIO**i, FLOOR_MS * RATIO**(i+1)); values below FLOOR_MS
fall in bucket 0. A histogram is a {bucket index: count} mapping (JSON keys are strings)."""

import math
from collections.abc import Iterable, Mapping

RATIO = 1.1
FLOOR_MS = 0.1
_LOG_RATIO = math.log(RATIO)


def bucket_of(value_ms: float) -> int:
    """The bucket a value falls in."""
    if value_ms <= FLOOR_MS:
        return 0
    return int(math.log(value_ms / FLOOR_MS) / _LOG_RATIO)


def bucket_upper_ms(index: int) -> float:
    """The upper bound of a bucket: what a percentile landing in it reads as (never below the truth)."""
    return FLOOR_MS * RATIO ** (index + 1)


def histogram_merge(histograms: Iterable[Mapping]) -> dict[int, int]:
    """Several histograms (from processes or minutes) as one."""
    merged: dict[int, int] = {}
    for histogram in histograms:
        for index, count in histogram.items():
            merged[int(index)] = merged.get(int(index), 0) + int(count)
    return merged


def histogram_percentile(histogram: Mapping, q: float) -> float | None:
    """The q-th percentile (0 < q <= 100) of a histogram, None when it is empty: the upper bound
    of the bucket where the cumulative count reaches q % of the total."""
    counts = sorted((int(index), int(count)) for index, count in histogram.items() if int(count) > 0)
    total = sum(count for _, count in counts)
    if not total:
        return None
    rank = math.ceil(total * q / 100)
    seen = 0
    for index, count in counts:
        seen += count
        if seen >= rank:
            return round(bucket_upper_ms(index), 3)
    return round(bucket_upper_ms(counts[-1][0]), 3)
