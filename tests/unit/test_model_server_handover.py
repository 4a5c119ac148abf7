"""A pooled model server preloads the frameworks its image holds, then waits for the file naming its model."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from platform_sdk.serving import handover
from platform_sdk.serving.__main__ import parse_args


def test_only_installed_frameworks_are_preloaded_and_a_failing_module_is_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    preloads = {
        "json": ("json", "json.decoder", "json.no_such_module"),
        "no_such_framework": ("no_such_framework",),
    }
    monkeypatch.setattr(handover, "PRELOADS", preloads)
    assert handover.preload() == ["json", "json.decoder"]


def test_the_server_waits_for_the_handover_file_and_takes_its_model_id(tmp_path: Path) -> None:
    path = tmp_path / "handover.json"
    timer = threading.Timer(0.1, lambda: path.write_text(json.dumps({"model_id": "iris-7"})))
    timer.start()
    assert handover.await_handover(path, poll=0.01) == "iris-7"
    timer.join()


def test_a_handover_file_without_a_model_id_string_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "handover.json"
    path.write_text(json.dumps({"model_id": 7}))
    with pytest.raises(ValueError, match="names no model id"):
        handover.await_handover(path)


def test_the_handover_option_is_off_unless_given() -> None:
    assert parse_args(["--package", "/opt/model"]).handover is None
    pooled = parse_args(["--package", "/opt/model", "--handover", "/opt/handover/handover.json"])
    assert pooled.handover == Path("/opt/handover/handover.json")
