"""Both app package formats: good packages normalise, and every bad one is refused naming file and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from canopy.apps.manifest import AppManifest
from canopy.apps.references import resolve_references
from canopy.apps.repository import check_package
from canopy.apps.validate import validate_package
from canopy.errors import CanopyError, ValidationFailed
from tests.fixtures.app_packages.corpus import (
    CLIMATE,
    EXAMPLES,
    LEGACY_APP,
    LEGACY_MAIN,
    MODELS,
    BadApp,
    FakeRegistry,
    bad_apps,
    canopy_files,
    good_canopy_package,
    good_legacy_package,
    legacy_files,
)
from tests.fixtures.model_packages.corpus import TEST_LIMITS, Files, write_package


def _check(tmp_path: Path, data: bytes) -> AppManifest:
    """Extract, validate and resolve an upload against the fake registry, as an upload does."""
    (tmp_path / "package.zip").write_bytes(data)
    declared = check_package(tmp_path / "package.zip", tmp_path / "files", TEST_LIMITS)
    return resolve_references(FakeRegistry(), declared)


def _manifest(tmp_path: Path, files: Files) -> AppManifest:
    return resolve_references(FakeRegistry(), validate_package(write_package(tmp_path / "app", files)))


def _problems(tmp_path: Path, files: Files) -> list[dict[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        _manifest(tmp_path, files)
    problems: list[dict[str, str]] = caught.value.details["problems"]
    return problems


def test_the_corpus_is_big_and_covers_both_formats() -> None:
    corpus = bad_apps()
    assert len(corpus) >= 15 and len({bad.name for bad in corpus}) == len(corpus)
    assert sum(bad.name.startswith("legacy_") for bad in corpus) >= 10


@pytest.mark.parametrize("bad", bad_apps(), ids=lambda bad: bad.name)
def test_every_bad_package_is_refused_naming_the_file_and_field(tmp_path: Path, bad: BadApp) -> None:
    with pytest.raises(CanopyError) as caught:
        _check(tmp_path, bad.data)
    error = caught.value
    assert error.status == bad.status
    assert bad.where in error.message and bad.reason in error.message, error.message
    if bad.field is not None:
        problems = error.details["problems"]
        assert any(p["file"] == bad.file and p["field"] == bad.field for p in problems), problems


def test_a_canopy_package_normalises_with_kinds_from_the_types_and_resolved_models(tmp_path: Path) -> None:
    manifest = _check(tmp_path, good_canopy_package())
    assert (manifest.format, manifest.name, manifest.entry) == ("canopy", "room-climate", "climate:main")
    assert [(d.name, d.type, d.kind, d.exclusive) for d in manifest.devices] == [
        ("room_temp", "TEMP", "sensor", False),
        ("fan", "FAN", "controller", True),
    ]
    model = manifest.models[0]
    assert (model.name, model.ref, model.version, model.model_id) == (
        "health",
        "fan-health",
        ">=1.0,<2",
        MODELS["fan-health"][0],
    )
    assert manifest.page is not None and manifest.page.port == 8080
    assert manifest.requirements == ["requests==2.32.3"] and manifest.python == "3.11"


def test_a_legacy_package_keeps_its_indexes_as_role_names(tmp_path: Path) -> None:
    manifest = _check(tmp_path, good_legacy_package())
    assert (manifest.format, manifest.name, manifest.version, manifest.entry) == (
        "legacy",
        "application-1",
        "1.0.0",
        "app.py",
    )
    assert [(d.name, d.type, d.kind) for d in manifest.devices] == [
        ("sensor_0", "TEMP", "sensor"),
        ("sensor_1", "PRESSURE", "sensor"),
        ("controller_0", "DISPLAY", "controller"),
    ]
    assert [(m.name, m.model_id) for m in manifest.models] == [("model_0", MODELS["weather-detection"][0])]
    assert manifest.page is not None and manifest.page.port == 6015
    assert manifest.database and [s.filename for s in manifest.scripts] == ["scripts/script1.py"]
    assert manifest.requirements == ["flask==3.1.3", "pymongo==4.18.2"]


@pytest.mark.parametrize(
    ("main", "port"),
    [
        (LEGACY_MAIN.replace('app.run("0.0.0.0", 6015)', "app.run(host='0.0.0.0', port=7001)"), 7001),
        (LEGACY_MAIN.replace('app.run("0.0.0.0", 6015)', "app.run()"), 6015),
        ("print('no server here')\n", 6015),
    ],
)
def test_the_legacy_page_port_comes_from_the_run_call_else_6015(tmp_path: Path, main: str, port: int) -> None:
    manifest = _manifest(tmp_path, legacy_files({"app.py": main}))
    assert manifest.page is not None and manifest.page.port == port


def test_legacy_flags_decide_which_config_files_are_needed(tmp_path: Path) -> None:
    flags = {**LEGACY_APP, "sensor": False, "controller": False, "model": False, "script": False}
    files = legacy_files(
        {
            "app.json": flags,
            "config/sensors.json": None,
            "config/controllers.json": None,
            "config/models.json": None,
            "scripts/script1.py": None,
        }
    )
    manifest = _manifest(tmp_path, files)
    assert (manifest.devices, manifest.models, manifest.scripts) == ([], [], [])


def test_legacy_models_may_be_named_by_id_or_owner_and_name(tmp_path: Path) -> None:
    model_id = MODELS["weather-detection"][0]
    models = {"count": 2, "instances": [{"model_id": model_id}, {"model_id": "fan-health"}]}
    manifest = _manifest(tmp_path, legacy_files({"config/models.json": models}))
    assert [(m.name, m.ref, m.model_id) for m in manifest.models] == [
        ("model_0", model_id, model_id),
        ("model_1", "fan-health", MODELS["fan-health"][0]),
    ]


def test_every_problem_of_a_package_is_reported_at_once(tmp_path: Path) -> None:
    sensors = {"count": 1, "instances": [{"index": 0, "type": "TEMPX"}]}
    files = legacy_files({"config/sensors.json": sensors, "config/control.json": {"main": "main.py"}})
    problems = _problems(tmp_path, files)
    assert {(p["file"], p["field"]) for p in problems} == {("config/control.json", "main")}
    files = legacy_files(
        {"config/sensors.json": sensors, "config/models.json": {"count": 1, "instances": [{"model_id": "x"}]}}
    )
    problems = _problems(tmp_path, files)
    assert {(p["file"], p["field"]) for p in problems} == {
        ("config/sensors.json", "instances.0.type"),
        ("config/models.json", "instances.0.model_id"),
    }


def test_an_unknown_type_suggests_close_registered_names(tmp_path: Path) -> None:
    problems = _problems(tmp_path, canopy_files(devices=[{"name": "t", "type": "temp"}]))
    assert "did you mean 'TEMP'?" in problems[0]["problem"]


@pytest.mark.parametrize(
    ("entry", "files"),
    [
        ("climate.py", {"climate.py": CLIMATE}),
        ("runner", {"runner/__main__.py": "print('hi')\n"}),
        ("runner.loop:main", {"runner/loop.py": "from x import main\n"}),
        ("runner:main", {"runner/__init__.py": "def main():\n    pass\n"}),
    ],
)
def test_entries_name_a_file_a_module_or_a_function(
    tmp_path: Path, entry: str, files: dict[str, str]
) -> None:
    app = json.loads(str(canopy_files()["app.json"]))
    manifest = _manifest(tmp_path, {"app.json": json.dumps({**app, "entry": entry}), **files})
    assert manifest.entry == entry


def test_the_package_code_is_parsed_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')\nraise SystemExit(3)\n\ndef main():\n    pass\n"
    manifest = _manifest(tmp_path, canopy_files() | {"climate.py": code})
    assert manifest.entry == "climate:main" and not marker.exists()


@pytest.mark.parametrize("example", ["fan-monitor", "legacy-weather"])
def test_the_example_packages_validate(example: str) -> None:
    manifest = resolve_references(FakeRegistry(), validate_package(EXAMPLES / example))
    assert manifest.devices and manifest.models and manifest.page is not None
    expected: dict[str, Any] = {
        "fan-monitor": ("canopy", {"fan": "sensor", "buzzer": "controller"}),
        "legacy-weather": (
            "legacy",
            {"sensor_0": "sensor", "sensor_1": "sensor", "controller_0": "controller"},
        ),
    }
    assert (manifest.format, {d.name: d.kind for d in manifest.devices}) == expected[example]
