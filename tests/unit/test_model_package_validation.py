"""Validation of extracted packages, and the whole corpus of bad archives, without running package code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from canopy.errors import CanopyError, ValidationFailed
from canopy.models.repository import check_package
from canopy.models.requirements import parse_requirements
from canopy.models.validate import ValidatedPackage, validate_package
from tests.fixtures.model_packages.corpus import (
    LEGACY_CONFIG,
    TEST_LIMITS,
    BadPackage,
    Files,
    bad_packages,
    good_legacy_package,
    good_modern_package,
    legacy_files,
    modern_files,
    write_package,
)


def _validate(tmp_path: Path, files: Files) -> ValidatedPackage:
    return validate_package(write_package(tmp_path / "package", files))


def _problems(tmp_path: Path, files: Files) -> dict[str, Any]:
    with pytest.raises(ValidationFailed) as caught:
        _validate(tmp_path, files)
    details: dict[str, Any] = caught.value.details
    return details


@pytest.mark.parametrize("bad", bad_packages(), ids=lambda bad: bad.name)
def test_every_bad_archive_is_refused_with_its_reason(tmp_path: Path, bad: BadPackage) -> None:
    (tmp_path / "package.zip").write_bytes(bad.data)
    with pytest.raises(CanopyError) as caught:
        check_package(tmp_path / "package.zip", tmp_path / "files", TEST_LIMITS)
    assert caught.value.status == bad.status
    assert bad.reason in caught.value.message


@pytest.mark.parametrize("package", [good_modern_package, good_legacy_package])
def test_the_good_packages_pass(tmp_path: Path, package: Any) -> None:
    (tmp_path / "package.zip").write_bytes(package())
    validated = check_package(tmp_path / "package.zip", tmp_path / "files", TEST_LIMITS)
    assert validated.root == tmp_path / "files"
    assert isinstance(validated.manifest.requirements, list)


def test_legacy_pins_are_kept_exactly_as_written(tmp_path: Path) -> None:
    manifest = _validate(tmp_path, legacy_files()).manifest
    assert manifest.requirements == ["numpy==1.22.4", "scikit-learn==1.0.2", "pandas==1.4.2"]


def test_a_package_inside_one_top_folder_is_found(tmp_path: Path) -> None:
    files = {f"fan-health/{name}": content for name, content in modern_files().items()}
    validated = _validate(tmp_path, {**files, "__MACOSX/._model.json": "x"})
    assert validated.root.name == "fan-health"


def test_model_json_wins_over_a_config_json_of_the_model(tmp_path: Path) -> None:
    manifest = _validate(tmp_path, {**modern_files(), "config.json": "{}"}).manifest
    assert manifest.name == "fan-health" and not manifest.legacy


def test_package_code_is_parsed_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hooks = f"open({str(marker)!r}, 'w').write('x')\n\ndef preprocess(x):\n    return x\n\n"
    hooks += "postprocess = preprocess\n"
    _validate(tmp_path, {**modern_files(), "hooks.py": hooks})
    assert not marker.exists()


def test_syntax_errors_in_hooks_are_reported_with_their_line(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {**modern_files(), "hooks.py": "def preprocess(:\n"})
    assert "syntax error at line 1" in problems["preprocess"]


def test_a_python_model_class_needs_load_and_predict(tmp_path: Path) -> None:
    files = modern_files(framework="python", model_file=None, model_class="net.py:Net")
    loads = "class Net:\n    def load(self, path): ...\n"
    predicts = "    def predict(self, inputs): ...\n"
    assert (
        _validate(tmp_path / "a", {**files, "net.py": loads + predicts}).manifest.model_class == "net.py:Net"
    )
    problems = _problems(tmp_path / "b", {**files, "net.py": loads})
    assert problems["model_class"] == "class Net in net.py does not define predict()"
    problems = _problems(tmp_path / "c", {**files, "net.py": "def Net(): ...\n"})
    assert "is not a class" in problems["model_class"]


@pytest.mark.parametrize(
    ("changes", "extra", "problem"),
    [
        ({"model_file": "weights.onnx"}, {"weights.onnx": "x"}, "must be a .pkl / .pickle / .joblib file"),
        ({"framework": "keras", "model_file": "saved"}, {"saved/variables/v": "x"}, "saved_model.pb"),
        ({"readme": "README.md"}, {}, "README.md is missing"),
        ({"requirements": "requirements.txt"}, {}, "requirements.txt is not in the package"),
        ({"preprocess": "missing.py:preprocess"}, {}, "missing.py is not in the package"),
    ],
)
def test_missing_or_unsuitable_files_are_named(
    tmp_path: Path, changes: dict[str, Any], extra: dict[str, str], problem: str
) -> None:
    problems = _problems(tmp_path, {**modern_files(**changes), **extra})
    assert any(problem in text for text in problems.values()), problems


def test_a_keras_saved_model_folder_is_accepted(tmp_path: Path) -> None:
    files = {**modern_files(framework="keras", model_file="saved"), "saved/saved_model.pb": b"\x08\x01"}
    assert _validate(tmp_path, files).manifest.model_file == "saved"


def test_requirements_must_parse_and_pip_options_are_refused() -> None:
    kept, problems = parse_requirements(
        ["numpy==1.22.4  # pinned", "", "# comment", "not a requirement!!", "-e ."], "requirements.txt:{line}"
    )
    assert kept == ["numpy==1.22.4"]
    assert set(problems) == {"requirements.txt:4", "requirements.txt:5"}
    assert "pip options" in problems["requirements.txt:5"]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    config = {**LEGACY_CONFIG, "readme": "missing.md"}
    files = {name: content for name, content in legacy_files(config).items() if name != "model.pkl"}
    problems = _problems(tmp_path, {**files, "requirements.txt": "numpy>=>1\n"})
    assert set(problems) == {"model_file", "readme", "requirements.txt:1"}
    assert json.dumps(problems)
