"""Opportunistic batching: concurrent predictions share model calls, and one bad item fails only itself."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from platform_sdk.serving.batcher import Batcher
from platform_sdk.serving.pipeline import Pipeline
from platform_sdk.serving.spec import read_package

from tests.model_servers import EXAMPLES

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.5, "sepal_width": 3.0, "petal_length": 5.5, "petal_width": 2.0}


def test_items_queued_while_the_model_is_busy_go_in_one_call() -> None:
    release = threading.Event()
    calls: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        release.wait(5)
        return [item * 10 for item in items]

    batcher = Batcher(run)
    with ThreadPoolExecutor(9) as pool:
        first = pool.submit(batcher.submit, 0)
        while not calls:
            threading.Event().wait(0.001)
        rest = [pool.submit(batcher.submit, item) for item in range(1, 9)]
        threading.Event().wait(0.2)
        release.set()
        assert [future.result(5) for future in [first, *rest]] == [item * 10 for item in range(9)]
    assert calls == [[0], list(range(1, 9))]


def test_a_failing_item_fails_only_its_own_request() -> None:
    def run(items: Sequence[int]) -> list[int]:
        if 3 in items:
            raise ValueError("three is refused")
        return list(items)

    batcher = Batcher(run)
    with ThreadPoolExecutor(8) as pool:
        futures = {item: pool.submit(batcher.submit, item) for item in range(8)}
        for item, future in futures.items():
            if item == 3:
                with pytest.raises(ValueError, match="three is refused"):
                    future.result(5)
            else:
                assert future.result(5) == item


def same_predictions(batched: list[dict[str, Any]], alone: list[dict[str, Any]]) -> bool:
    """Equal species and probabilities equal to the last bits (a batch's vectorised math may round apart)."""
    return [one["species"] for one in batched] == [one["species"] for one in alone] and all(
        one["probabilities"] == pytest.approx(other["probabilities"], rel=1e-12, abs=1e-15)
        for one, other in zip(batched, alone, strict=True)
    )


def test_batched_predictions_equal_single_ones() -> None:
    pipeline = Pipeline(read_package(EXAMPLES / "sklearn-iris" / "package"))
    alone = [pipeline.predict(SETOSA), pipeline.predict(VIRGINICA)]
    assert same_predictions(pipeline.predict_batch([SETOSA, VIRGINICA]), alone)
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(pipeline.predict, [SETOSA, VIRGINICA] * 32))
    assert same_predictions(together, alone * 32)
    assert not same_predictions(together[::-1], alone * 32)
