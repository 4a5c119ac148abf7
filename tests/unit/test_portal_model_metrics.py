"""The portal's replica metrics: parsing the model server's exposition, rates, p95, bounded scraping."""

from __future__ import annotations

import pytest
from platform_sdk.serving.metrics import ServerMetrics

from services.gateway.portal import model_metrics
from services.gateway.portal.model_metrics import ReplicaMetrics, next_point, p95_ms, parse_totals


def served(requests: list[tuple[str, float]]) -> str:
    """The /metrics page of a replica that answered these (route, seconds) requests."""
    metrics = ServerMetrics("iris", "m1")
    for route, seconds in requests:
        metrics.record(route, 200, seconds, 10, 10)
    return metrics.render().decode()


def test_only_served_routes_count() -> None:
    totals = parse_totals(served([("/predict", 0.002), ("/predict", 0.004), ("/metrics", 0.5)]))
    assert totals.requests == 2 and totals.count == 2
    assert totals.mean_ms() == pytest.approx(3.0)
    assert dict(totals.buckets)[0.005] == 2


def test_a_point_is_the_rate_mean_and_p95_between_two_scrapes() -> None:
    before = {"a": parse_totals(served([("/predict", 0.002)]))}
    after = {"a": parse_totals(served([("/predict", 0.002)] + [("/predict", 0.02)] * 4))}
    point = next_point(100.0, 2.0, before, after)
    assert point.rate == pytest.approx(2.0) and point.mean_ms == pytest.approx(20.0)
    assert point.p95_ms is not None and 10 < point.p95_ms <= 25
    restarted = next_point(101.0, 1.0, after, {"a": parse_totals(served([("/predict", 0.002)]))})
    assert restarted.rate == pytest.approx(1.0)  # a counter that went down counts from zero
    new_replica = next_point(102.0, 1.0, {}, after)
    assert new_replica.rate is None and new_replica.mean_ms is None


def test_p95_interpolates_inside_its_bucket() -> None:
    assert p95_ms({0.01: 0.0, 0.02: 100.0, float("inf"): 100.0}, 100) == pytest.approx(19.5)
    assert p95_ms({0.01: 0.0, float("inf"): 10.0}, 10) == pytest.approx(10.0)
    assert p95_ms({}, 0) is None


def test_scrapes_are_at_most_one_a_second_and_history_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    fetched: list[str] = []

    def fetch(endpoint: str) -> str:
        fetched.append(endpoint)
        return served([("/predict", 0.001)] * len(fetched))

    monkeypatch.setattr(model_metrics, "HISTORY", 3)
    monkeypatch.setattr(model_metrics, "MAX_MODELS", 2)
    sampler = ReplicaMetrics(fetch, clock=lambda: now[0], wall=lambda: 1000 + now[0])
    sampler.sample("m1", ["http://a"])
    sampler.sample("m1", ["http://a"])
    assert len(fetched) == 1
    for _ in range(5):
        now[0] += 1.0
        points, totals = sampler.sample("m1", ["http://a"])
    assert len(fetched) == 6 and len(points) == 3 and totals["http://a"].requests == 6
    chart = sampler.chart("m1", ["http://a"], "throughput")
    assert chart["times"] == [1003.0, 1004.0, 1005.0] and chart["series"][0]["label"] == "requests/s"
    sampler.sample("m2", [])
    sampler.sample("m3", [])
    assert sampler.sample("m1", [])[0] == []  # the least recently seen model was forgotten
