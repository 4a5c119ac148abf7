"""The model manifest: required fields, framework rules, schema fields and clear field errors."""

from __future__ import annotations

from typing import Any

import pytest

from canopy.errors import ValidationFailed
from canopy.models.manifest import Framework, ModelManifest, Resources, parse_fields, split_code_ref
from tests.fixtures.model_packages.corpus import MODERN_MANIFEST


def _parse(**changes: Any) -> ModelManifest:
    return parse_fields(ModelManifest, {**MODERN_MANIFEST, **changes}, "model.json")


def _details(**changes: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        _parse(**changes)
    details: dict[str, str] = caught.value.details
    return details


def test_the_example_manifest_parses_with_defaults() -> None:
    manifest = _parse(resources={}, replicas=1, python=None)
    assert manifest.framework is Framework.SKLEARN
    assert manifest.resources == Resources(cpu=0.5, memory_mb=512)
    assert manifest.python is None and manifest.legacy is False
    assert manifest.code_refs() == {
        "preprocess": "hooks.py:preprocess",
        "postprocess": "hooks.py:postprocess",
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "Fan Health"}, "name"),
        ({"version": "one"}, "version"),
        ({"framework": "pytorch"}, "framework"),
        ({"inputs": []}, "inputs"),
        ({"inputs": [{"name": "x", "type": "complex"}]}, "inputs.0.type"),
        ({"python": "2.7.18"}, "python"),
        ({"resources": {"cpu": 0}}, "resources.cpu"),
        ({"replicas": 0}, "replicas"),
        ({"preprocess": "hooks.py"}, "preprocess"),
        ({"postprocess": "../hooks.py:postprocess"}, "postprocess"),
        ({"model_file": "/abs/model.pkl"}, "model_file"),
        ({"colour": "green"}, "colour"),
    ],
)
def test_a_bad_field_is_named_in_the_details(changes: dict[str, Any], field: str) -> None:
    assert field in _details(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"framework": "python"},
        {"model_file": None},
        {"model_class": "net.py:Net"},
        {"inputs": [{"name": "x", "type": "float", "shape": [3]}]},
        {"inputs": [{"name": "x", "type": "string", "minimum": 1}]},
        {"inputs": [{"name": "x", "type": "int", "minimum": 5, "maximum": 1}]},
        {"outputs": [{"name": "y", "type": "int"}, {"name": "y", "type": "float"}]},
        {"legacy": True},
    ],
)
def test_inconsistent_manifests_are_refused(changes: dict[str, Any]) -> None:
    assert _details(**changes)


def test_python_framework_needs_a_class_and_not_a_model_file() -> None:
    manifest = _parse(framework="python", model_file=None, model_class="net.py:Net")
    assert manifest.code_refs()["model_class"] == "net.py:Net"
    assert split_code_ref("pkg/net.py:Net") == ("pkg/net.py", "Net")


def test_requirements_may_name_a_file_and_arrays_take_a_shape() -> None:
    manifest = _parse(
        requirements="deps/requirements.txt",
        inputs=[{"name": "pixels", "type": "array", "items": "float", "shape": [None, 28, 28]}],
    )
    assert manifest.requirements == "deps/requirements.txt"
    assert manifest.inputs[0].shape == [None, 28, 28]
