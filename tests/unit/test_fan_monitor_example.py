"""The fan-monitor example's own logic: one alarm per failure episode, model inputs, and its page."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.fixtures.app_packages.corpus import EXAMPLES

FAN_MONITOR = EXAMPLES / "fan-monitor"
READING = {"rpm": 410.0, "vibration": 4.2, "temperature": 71.0, "sound": 88.0}


@pytest.fixture()
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """The example's watch and page modules, loaded from its folder as its workload would."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # leave no __pycache__ in the example
    sys.path.insert(0, str(FAN_MONITOR))
    try:
        modules = {}
        for name in ("watch", "page"):
            spec = importlib.util.spec_from_file_location(name, FAN_MONITOR / f"{name}.py")
            assert spec is not None and spec.loader is not None
            modules[name] = sys.modules[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(modules[name])
        yield modules
    finally:
        sys.path.remove(str(FAN_MONITOR))
        for name in ("watch", "page"):
            sys.modules.pop(name, None)


def test_an_alarm_fires_once_per_episode(example: dict[str, ModuleType]) -> None:
    watch = example["watch"].Watch(threshold=0.8, reset=0.5)
    fired = [watch.record(READING, p) for p in (0.1, 0.85, 0.95, 0.7, 0.9, 0.4, 0.82)]
    assert fired == [False, True, False, False, False, False, True]
    status = watch.status()
    assert status["episodes"] == 2 and status["alarm"] and status["latest"]["failure_probability"] == 0.82


def test_model_inputs_and_answers(example: dict[str, ModuleType]) -> None:
    watch = example["watch"]
    assert watch.model_inputs({**READING, "extra": 1}) == READING
    assert watch.probability_of({"failure_probability": 0.93}) == 0.93
    assert watch.probability_of({"failure_probability": [0.25]}) == 0.25


def test_the_page_lists_recent_predictions_and_errors(example: dict[str, ModuleType]) -> None:
    watch = example["watch"].Watch(threshold=0.8, reset=0.5)
    watch.record(READING, 0.91)
    watch.failed(RuntimeError("<no reading>"))
    page = example["page"].render(watch.status())
    assert "ALARM" in page and "<td>410.0</td>" in page and "0.910" in page
    assert "&lt;no reading&gt;" in page and "href='status'" in page
