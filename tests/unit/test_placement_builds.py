"""How pip failures name the pin, and how wheel directories are keyed."""

from __future__ import annotations

from canopy.workloads.wheels import failing_requirement, requirements_key


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
