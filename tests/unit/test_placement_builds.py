"""What the deployer reads from a package to build it, and how pip failures name the pin."""

from __future__ import annotations

import json
from pathlib import Path

from canopy.workloads.builder import read_runtime_needs
from canopy.workloads.wheels import failing_requirement, requirements_key


def test_manifest_requirements_as_a_list_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps({"requirements": ["numpy==1.22.4"], "python": "3.9"}))
    assert read_runtime_needs(tmp_path) == (["numpy==1.22.4"], "3.9")
    (tmp_path / "reqs.txt").write_text("# pinned\nscikit-learn==1.0.2\n\npandas==1.4.0\n")
    (tmp_path / "model.json").write_text(json.dumps({"requirements": "reqs.txt"}))
    assert read_runtime_needs(tmp_path) == (["scikit-learn==1.0.2", "pandas==1.4.0"], "")


def test_the_legacy_dependency_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"dependency": "requirements.txt"}))
    (tmp_path / "requirements.txt").write_text("numpy==1.22.0\n")
    assert read_runtime_needs(tmp_path) == (["numpy==1.22.0"], "")


def test_pip_failures_name_the_pin() -> None:
    stderr = (
        "ERROR: Could not find a version that satisfies the requirement numpy==1.22.4\n"
        "ERROR: No matching distribution found for numpy==1.22.4\n"
    )
    assert failing_requirement(stderr) == "requirement numpy==1.22.4 has no wheel"
    assert failing_requirement("ERROR: something else\n") == "ERROR: something else"


def test_the_cache_key_depends_on_the_set_and_the_python() -> None:
    assert requirements_key(["a==1", "b==2"], "3.11") == requirements_key(["b==2", "a==1"], "3.11")
    assert requirements_key(["a==1"], "3.11") != requirements_key(["a==1"], "3.9")
