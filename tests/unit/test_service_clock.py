"""The service's clock read from HTTP Date headers: bounds that always hold the true offset and narrow
with every answer, and the row judgement near a T the service takes in whole seconds."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

from ops.clock import ServiceClock
from ops.data.markers import Marker, after_t, before_t, judge


def answers(clock: ServiceClock, offset: float, rtt: float, count: int, start: float = 1_000_000.0, seed: int = 7) -> None:
    """`count` answers of a service `offset` s ahead, each taking `rtt`, asked at random moments."""
    rnd = random.Random(seed)
    t = start
    for _ in range(count):
        t += rnd.uniform(0.05, 1.3)
        stamped_at = t + rnd.uniform(0, rtt) + offset  # when the service made the answer, on its clock
        clock.observe(t, t + rtt, float(math.floor(stamped_at)))


def test_bounds_hold_the_true_offset_and_narrow_to_the_round_trip() -> None:
    for offset in (0.6, -0.6, 30.0, -30.0, 0.0):
        clock = ServiceClock()
        answers(clock, offset, rtt=0.01, count=1)
        lo, hi = clock.offset_bounds()
        assert lo <= offset <= hi and hi - lo <= 1.0 + 0.01 + 1e-9  # one Date header: a second's width
        answers(clock, offset, rtt=0.01, count=60)
        lo, hi = clock.offset_bounds()
        assert lo <= offset <= hi, (offset, lo, hi)
        assert hi - lo < 0.1, "sixty answers at spread-out moments narrow it to about the round trip"


def test_a_stepped_clock_starts_the_bounds_again() -> None:
    clock = ServiceClock()
    answers(clock, 0.0, rtt=0.01, count=30)
    answers(clock, 5.0, rtt=0.01, count=1, start=2_000_000.0)
    lo, hi = clock.offset_bounds()
    assert lo <= 5.0 <= hi


def test_a_single_client_reading_is_not_the_service_time() -> None:
    """Negative control: the client's own clock, 0.6 s behind, falls outside what the Date headers allow."""
    clock = ServiceClock()
    answers(clock, 0.6, rtt=0.01, count=60)
    lo, _ = clock.offset_bounds()
    assert lo > 0.0, "a client clock 0.6 s behind is seen to be behind"


T = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def at(seconds: float, uncertainty: float | None = None, seq: int = 1) -> Marker:
    return Marker("d:x", seq, T + timedelta(seconds=seconds), "p", uncertainty)


def test_rows_within_t_s_second_are_judged_neither_way_where_the_service_takes_whole_seconds() -> None:
    assert before_t(at(-0.3, 0.2), T, exact=False)
    assert not before_t(at(-0.1, 0.2), T, exact=False)  # may have been written after T
    assert not after_t(at(0.5, 0.1), T, exact=False, granularity_s=1.0)  # inside T's second
    assert after_t(at(1.2, 0.1), T, exact=False, granularity_s=1.0)
    assert after_t(at(0.5, 0.1), T, exact=False)  # negative control: without the whole second it counts as after


def test_rows_between_the_two_latest_restorable_times_are_left_out() -> None:
    source = [at(-1, seq=1), at(0.5, seq=2), at(2, seq=3)]
    restored = [source[0], source[1]]
    verdict = judge(source, restored, T, exact=True, t_latest=T + timedelta(seconds=1))
    assert verdict.expected_present == 1 and verdict.expected_absent == 1 and verdict.ambiguous == 1
    assert not verdict.missing and not verdict.unexpected
    wrong = judge(source, restored, T, exact=True)  # negative control: one T, the row restored after it is flagged
    assert wrong.unexpected == [("d:x", 2)]
