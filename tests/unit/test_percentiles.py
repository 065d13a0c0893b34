"""The one percentile of dbops (nearest rank), against statistics.quantiles and against its own definition."""

from __future__ import annotations

import random
import statistics

import pytest

from ops.percentiles import percentile


def test_p95_of_1_to_100_is_the_95th_value() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0
    assert percentile(values[::-1], 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0


@pytest.mark.parametrize("n", [21, 41, 101, 1001])
def test_p95_equals_statistics_quantiles_where_its_position_falls_on_a_sample(n: int) -> None:
    rng = random.Random(n)
    values = [rng.lognormvariate(0, 1) for _ in range(n)]  # latencies: skewed, a long tail
    assert percentile(values, 0.95) == statistics.quantiles(values, n=20, method="inclusive")[18]
    assert percentile(values, 0.5) == statistics.quantiles(values, n=2, method="inclusive")[0]


@pytest.mark.parametrize("seed", range(30))
def test_p95_is_one_of_the_two_samples_statistics_quantiles_interpolates_between(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.expovariate(1.0) for _ in range(rng.randint(2, 400))]
    ordered = sorted(values)
    h = (len(values) - 1) * 0.95
    inclusive = statistics.quantiles(values, n=20, method="inclusive")[18]
    below, above = ordered[int(h)], ordered[min(len(ordered) - 1, int(h) + 1)]
    assert below <= inclusive <= above
    assert percentile(values, 0.95) in (below, above)


@pytest.mark.parametrize("seed", range(30))
def test_at_least_q_of_the_samples_are_at_or_below_it_and_it_is_the_smallest_such(seed: int) -> None:
    rng = random.Random(1000 + seed)
    values = [float(rng.randint(1, 50)) for _ in range(rng.randint(1, 300))]  # ties, as millisecond timings have
    for q in (0.5, 0.95, 0.99):
        p = percentile(values, q)
        assert p in values
        assert sum(v <= p for v in values) >= q * len(values)
        assert sum(v < p for v in values) < q * len(values)  # a smaller sample would leave fewer than q at or below it


def test_the_nearest_index_reading_two_drills_used_falls_below_the_p95() -> None:
    """The negative control of the definition test: sorted[round((n - 1) q)] gives 11 of 1..12, at or above only 91.7 %."""
    values = [float(v) for v in range(1, 13)]
    old = sorted(values)[round(0.95 * (len(values) - 1))]
    assert old == 11.0 and sum(v <= old for v in values) < 0.95 * len(values)
    assert percentile(values, 0.95) == 12.0


def test_no_samples_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.95)


@pytest.mark.parametrize("q", [0.0, -0.1, 1.5])
def test_q_outside_0_1_is_refused(q: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], q)
