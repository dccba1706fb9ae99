import random

import pytest

from levqor.histogram import (
    RATIO,
    bucket_of,
    bucket_upper_ms,
    histogram_merge,
    histogram_percentile,
)


@pytest.mark.parametrize("value", [0.05, 0.1, 0.37, 1, 12.5, 199.9, 200, 4321.0, 3_600_000])
def test_a_value_lies_in_its_bucket_and_buckets_are_ten_percent_apart(value):
    index = bucket_of(value)
    assert bucket_upper_ms(index) >= value
    assert bucket_upper_ms(index) / bucket_upper_ms(index - 1 if index else 0) <= RATIO + 1e-9 or index == 0
    if value > 0.1:
        assert bucket_upper_ms(index) <= value * RATIO * (1 + 1e-9)


def test_percentiles_are_within_ten_percent_of_the_exact_ones():
    rng = random.Random(7)
    values = sorted(rng.lognormvariate(3, 1) for _ in range(5000))
    histogram = {}
    for value in values:
        histogram[bucket_of(value)] = histogram.get(bucket_of(value), 0) + 1
    for q in (50, 95, 99):
        exact = values[int(len(values) * q / 100) - 1]
        got = histogram_percentile(histogram, q)
        assert exact <= got <= exact * RATIO * 1.001, (q, exact, got)


def test_histograms_from_several_processes_add_up_to_the_whole():
    a = {"3": 2, "10": 1}
    b = {3: 1, 40: 5}
    assert histogram_merge([a, b]) == {3: 3, 10: 1, 40: 5}
    assert histogram_percentile(histogram_merge([a, b]), 50) == round(bucket_upper_ms(40), 3)
    assert histogram_percentile({}, 95) is None
