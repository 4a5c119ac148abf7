"""Liveness and restart pacing on a fake clock: confirm with two signals, never restart the merely slow."""

from __future__ import annotations

import random

from canopy.healing.liveness import Detector, Timeouts
from canopy.healing.restarts import Budget, RestartPacer

TIMEOUTS = Timeouts(silence=1.0, hang=3.0)


def test_an_exited_replica_is_crashed_once_it_has_also_been_silent() -> None:
    detector = Detector(TIMEOUTS)
    detector.observe("w1", 0.0, "running", True)
    detector.observe("w1", 0.5, "exited", False)
    assert detector.verdict("w1", 0.9) == "alive"  # one signal: exited, but not silent long enough yet
    assert detector.verdict("w1", 1.1) == "crashed"


def test_a_stopped_process_that_does_not_answer_is_hung() -> None:
    detector = Detector(TIMEOUTS)
    detector.observe("w1", 0.0, "running", True)
    detector.observe("w1", 0.5, "stopped", False)
    assert detector.verdict("w1", 1.2) == "hung"


def test_a_running_process_with_a_failing_probe_is_only_suspect_until_the_hang_time() -> None:
    detector = Detector(TIMEOUTS)
    detector.observe("w1", 0.0, "running", True)
    for now in (1.0, 2.0, 2.9):
        detector.observe("w1", now, "running", False)
    assert detector.verdict("w1", 2.95) == "suspect"
    detector.observe("w1", 3.5, "running", False)
    assert detector.verdict("w1", 3.5) == "hung"


def test_silence_alone_is_never_enough() -> None:
    detector = Detector(TIMEOUTS)
    detector.beat("svc", 0.0)
    assert detector.verdict("svc", 60.0) == "suspect"
    detector.unreachable("svc", 60.0)
    assert detector.verdict("svc", 60.0) == "lost"


def test_a_failed_probe_alone_is_never_enough() -> None:
    detector = Detector(TIMEOUTS)
    detector.observe("w1", 0.0, "exited", False)  # first seen already bad: silence starts now
    assert detector.verdict("w1", 0.5) == "alive"


def test_a_beat_clears_every_witness() -> None:
    detector = Detector(TIMEOUTS)
    detector.observe("w1", 0.0, "stopped", False)
    detector.unreachable("w1", 0.1)
    detector.beat("w1", 0.2)
    assert detector.verdict("w1", 1.1) == "alive"
    assert abs(detector.silent_for("w1", 1.1) - 0.9) < 1e-9
    detector.forget("w1")
    assert detector.subjects() == [] and detector.verdict("w1", 99.0) == "alive"


def test_500_ms_of_jitter_on_a_slow_probe_gives_no_false_positive() -> None:
    detector, rng, now = Detector(TIMEOUTS), random.Random(7), 0.0
    verdicts = set()
    for beat in range(2000):
        now += 0.5 + rng.uniform(0.0, 0.5)  # reports every 0.5 s, each up to 500 ms late
        slow = beat % 3 == 0  # every third probe times out on the saturated CPU
        detector.observe("w1", now, "running", not slow)
        verdicts.add(detector.verdict("w1", now + rng.uniform(0.0, 0.5)))
    assert verdicts <= {"alive", "suspect"}  # suspect acts on nothing


def test_backoff_doubles_up_to_the_cap_and_the_budget_runs_out() -> None:
    pacer = RestartPacer(Budget(restarts=3, window=60.0, backoff=1.0, cap=3.0))
    assert pacer.delay("m", 0.0) == 0.0
    pacer.record("m", 0.0)
    assert pacer.delay("m", 0.2) == 0.8
    pacer.record("m", 1.0)
    assert pacer.delay("m", 1.0) == 2.0
    pacer.record("m", 3.0)
    assert pacer.spent("m", 3.0)
    assert pacer.delay("m", 3.0) == 3.0  # capped, not 4
    assert not pacer.spent("m", 61.0)  # the window moved past the first restarts
    pacer.reset("m")
    assert pacer.recent("m", 61.0) == []
