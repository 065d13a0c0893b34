"""The canary's arithmetic, with negative controls: a gap and a loss must be seen."""

from ops.data.canary import Ack, longest_gap_spanning, lost_writes


def acks(times: list[float]) -> list[Ack]:
    return [Ack(i + 1, t, t) for i, t in enumerate(times)]


def test_steady_writes_have_no_gap_beyond_the_interval() -> None:
    steady = acks([i * 0.05 for i in range(100)])
    assert abs(longest_gap_spanning(steady, 2.0, 2.1) - 0.05) < 1e-9


def test_gap_spanning_the_failover_is_measured() -> None:
    series = acks([0.0, 0.05, 0.10, 1.35, 1.40])  # refused from 0.10 to 1.35
    assert abs(longest_gap_spanning(series, 0.12, 0.5) - 1.25) < 1e-9


def test_gap_outside_the_failover_window_is_ignored() -> None:
    series = acks([0.0, 3.0, 3.05, 3.10, 3.15])  # a 3 s gap long before the failover
    assert abs(longest_gap_spanning(series, 3.06, 3.08) - 0.05) < 1e-9


def test_no_write_after_the_failover_is_none_not_zero() -> None:
    assert longest_gap_spanning(acks([0.0, 0.05]), 0.1, 0.2) is None


def test_lost_writes_are_the_acknowledged_ones_missing() -> None:
    assert lost_writes({1, 2, 3, 4}, {1, 2, 3, 4, 5}) == []
    assert lost_writes({1, 2, 3, 4}, {1, 2}) == [3, 4]


def test_outage_so_far_stops_growing_once_the_canary_stops() -> None:
    """While the canary writes, "now - last ack" is a real outage; once it is stopped, nothing is measured
    any more and the outage so far must not grow (a long heal would otherwise read as downtime)."""
    from ops.data.canary import Canary

    now = [10.0]
    canary = Canary("host=127.0.0.1 dbname=x", "drill-x", clock=lambda: now[0])
    canary.log.acks.extend(acks([9.0, 9.5]))
    now[0] = 11.0
    assert abs(canary.outage_so_far(since=9.2) - 1.5) < 1e-9  # running: the silence since the last ack counts
    canary.stop()
    now[0] = 300.0  # a five-minute heal later
    assert abs(canary.outage_so_far(since=9.2) - 1.5) < 1e-9
