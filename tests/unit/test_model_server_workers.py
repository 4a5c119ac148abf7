"""How many workers a replica runs, and how their counters are summed through the shared folder."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from platform_sdk.serving import workers
from platform_sdk.serving.metrics import ServerMetrics
from platform_sdk.serving.shared_metrics import SharedMetrics
from platform_sdk.serving.workers import cpu_quota, worker_count


def test_the_worker_count_follows_the_cores_at_most_two_unless_the_variable_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for cores, expected in ((1, 1), (2, 2), (8, 2)):
        monkeypatch.setattr(workers, "available_cores", lambda cores=cores: cores)
        assert worker_count({}) == expected
    assert worker_count({"CANOPY_SERVER_WORKERS": "3"}) == 3
    for wrong in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="CANOPY_SERVER_WORKERS"):
            worker_count({"CANOPY_SERVER_WORKERS": wrong})


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2.0),
        ({}, None),
    ],
)
def test_the_cgroup_cpu_quota_of_v1_and_v2(
    tmp_path: Path, files: dict[str, str], expected: float | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    assert cpu_quota(tmp_path) == expected


def requests_line(text: str, route: str) -> str:
    return next(line for line in text.splitlines() if f'route="{route}"' in line and "_total" in line)


def test_metrics_sum_every_worker_and_ask_the_others_for_fresh_counts(tmp_path: Path) -> None:
    other_shared = SharedMetrics(tmp_path)  # another worker, its keeper thread answering requests to publish
    other = ServerMetrics("iris", "m1", other_shared)
    stop_r, stop_w = os.pipe()
    keeper = threading.Thread(target=other_shared.serve, args=(other, stop_r))
    keeper.start()
    try:
        other.record("/predict", 200, 2**-9, 10, 20)
        other_shared.publish(other.snapshot())
        other.record("/predict", 200, 2**-8, 10, 20)  # not yet published: /metrics must ask for it
        other.observe_inference(0.001)
        mine = ServerMetrics("iris", "m1", SharedMetrics(tmp_path))
        mine.record("/predict", 200, 3 * 2**-10, 10, 20)
        mine.record("/health", 200, 0.0001, 0, 5)
        text = mine.render().decode()
    finally:
        os.close(stop_w)
        keeper.join(5)
    alone = ServerMetrics("iris", "m1")
    for seconds in (2**-9, 2**-8, 3 * 2**-10):  # exact in binary: sums in any order agree
        alone.record("/predict", 200, seconds, 10, 20)
    alone.record("/health", 200, 0.0001, 0, 5)
    alone.observe_inference(0.001)
    expected = alone.render().decode()
    assert requests_line(text, "/predict").endswith(" 3.0")
    canopy = [line for line in text.splitlines() if line.startswith("canopy_model")]
    assert canopy == [line for line in expected.splitlines() if line.startswith("canopy_model")]
    assert "process_resident_memory_bytes" in text
    os.close(stop_r)
