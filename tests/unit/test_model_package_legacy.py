"""The original platform's config.json is read unchanged and normalised to a manifest."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from canopy.errors import ValidationFailed
from canopy.models.legacy import legacy_manifest_data, slugify
from canopy.models.manifest import FieldType, ModelManifest
from tests.fixtures.model_packages.corpus import LEGACY_CONFIG


def _normalised(config: dict[str, Any]) -> ModelManifest:
    return ModelManifest.model_validate(legacy_manifest_data(config))


def test_the_inventory_example_becomes_a_json_sklearn_manifest() -> None:
    manifest = _normalised(LEGACY_CONFIG)
    assert (manifest.name, manifest.version, manifest.framework) == ("weather-detection", "1.0.0", "sklearn")
    assert manifest.model_file == "model.pkl"
    assert manifest.preprocess == "preprocess.py:preprocess"
    assert manifest.postprocess == "postprocess.py:postprocess"
    assert [(f.name, f.type) for f in manifest.inputs] == [("perc", "float"), ("temp_max", "float")]
    assert [(f.name, f.type) for f in manifest.outputs] == [("out", "string")]
    assert manifest.requirements == "requirements.txt"
    assert manifest.legacy and manifest.legacy_convention is not None
    assert manifest.legacy_convention.input_kind == "json"
    assert manifest.legacy_convention.predict_method == "predict"
    assert manifest.legacy_convention.response_key == "output"


def test_an_image_first_parameter_makes_an_h5_image_model() -> None:
    config = copy.deepcopy(LEGACY_CONFIG)
    config["name"] = "Signature Authentication"
    config["preprocessing"]["input_params"] = [{"sensor_img": "jpg"}]
    config["prediction"].update(name="model.h5", model_type="h5")
    manifest = _normalised(config)
    assert manifest.framework == "keras" and manifest.model_file == "model.h5"
    assert [(f.name, f.type) for f in manifest.inputs] == [("image", FieldType.IMAGE)]
    assert "sensor_img" in manifest.inputs[0].description
    assert manifest.legacy_convention is not None and manifest.legacy_convention.input_kind == "image"


def test_an_optional_version_key_is_honoured() -> None:
    assert _normalised({**LEGACY_CONFIG, "version": "2.1.0"}).version == "2.1.0"


@pytest.mark.parametrize("missing", ["name", "readme", "dependency", "preprocessing", "postprocessing"])
def test_each_required_key_is_named_when_missing(missing: str) -> None:
    config = {key: value for key, value in LEGACY_CONFIG.items() if key != missing}
    with pytest.raises(ValidationFailed) as caught:
        legacy_manifest_data(config)
    assert missing in caught.value.details
    assert "config.json is invalid" in caught.value.message


def test_nested_keys_and_model_types_are_checked() -> None:
    config = copy.deepcopy(LEGACY_CONFIG)
    del config["prediction"]["method_name"]
    config["prediction"]["model_type"] = "onnx"
    with pytest.raises(ValidationFailed) as caught:
        legacy_manifest_data(config)
    assert {"prediction.method_name", "prediction.model_type"} <= set(caught.value.details)


def test_an_unknown_type_word_and_missing_outputs_are_explained() -> None:
    config = copy.deepcopy(LEGACY_CONFIG)
    config["preprocessing"]["input_params"] = [{"perc": "quaternion"}]
    with pytest.raises(ValidationFailed, match="unknown type 'quaternion'"):
        legacy_manifest_data(config)
    config = copy.deepcopy(LEGACY_CONFIG)
    config["postprocessing"]["output_params"] = []
    with pytest.raises(ValidationFailed, match="declares no outputs"):
        legacy_manifest_data(config)


def test_slugify_makes_manifest_names() -> None:
    assert slugify("Weather Detection") == "weather-detection"
    assert slugify("  CO2 / Level (v2) ") == "co2-level-v2"
