"""The model server's manifest reader, input validation and multipart parsing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import urllib3
from platform_sdk.serving.schema import RequestError, coerce_form, parse_multipart, validate_record
from platform_sdk.serving.spec import FieldSpec, PackageError, read_package

FIELDS = [
    FieldSpec("rpm", "float", minimum=0, maximum=3000),
    FieldSpec("count", "int"),
    FieldSpec("on", "bool"),
    FieldSpec("label", "string"),
    FieldSpec("photo", "image"),
    FieldSpec("window", "array", shape=[None, 2]),
    FieldSpec("extra", "object"),
]
GOOD = {
    "rpm": 600,
    "count": 3.0,
    "on": True,
    "label": "fan",
    "photo": base64.b64encode(b"\x89PNG").decode(),
    "window": [[1, 2], [3, 4]],
    "extra": {"any": ["thing"]},
}


def problems(record: object, *, allow_extra: bool = False) -> dict[str, str]:
    with pytest.raises(RequestError) as caught:
        validate_record(FIELDS, record, allow_extra=allow_extra)
    assert caught.value.status == 400
    assert caught.value.to_payload()["error"]["code"] == "validation_failed"
    return dict(caught.value.details)


def test_a_good_record_is_cleaned() -> None:
    clean = validate_record(FIELDS, GOOD)
    assert clean["rpm"] == 600.0 and isinstance(clean["rpm"], float)
    assert clean["count"] == 3 and isinstance(clean["count"], int)
    assert clean["photo"] == b"\x89PNG"


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("rpm", "fast", "must be a number"),
        ("rpm", True, "must be a number"),
        ("rpm", -1, "must be >= 0"),
        ("rpm", 5000, "must be <= 3000"),
        ("rpm", float("nan"), "must be finite"),
        ("count", 2.5, "must be an integer"),
        ("on", 1, "must be true or false"),
        ("label", 7, "must be a string"),
        ("photo", "not base64!", "must be a base64-encoded image or a multipart file upload"),
        ("window", [[1, 2, 3]], "must have shape ?x2, got 1x3"),
        ("window", [[1, 2], [3]], "must be a rectangular array"),
        ("window", 5, "must be an array"),
    ],
)
def test_each_bad_value_is_named(field: str, value: object, problem: str) -> None:
    assert problems({**GOOD, field: value}) == {field: problem}


def test_missing_and_unknown_fields_are_all_reported() -> None:
    record = {key: value for key, value in GOOD.items() if key != "rpm"} | {"rpn": 600}
    assert problems(record) == {"rpm": "is required (float)", "rpn": "is not an input of this model"}


def test_legacy_mode_keeps_extra_keys() -> None:
    assert validate_record(FIELDS, GOOD | {"note": 1}, allow_extra=True)["note"] == 1


def test_the_body_must_be_an_object() -> None:
    assert problems([1, 2]) == {"inputs": "must be a JSON object mapping field names to values"}


def test_form_values_become_json_values_except_strings() -> None:
    form = {"rpm": "600.5", "on": "true", "label": "42", "window": "[[1, 2]]", "photo": b"raw"}
    assert coerce_form(FIELDS, form) == {
        "rpm": 600.5,
        "on": True,
        "label": "42",
        "window": [[1, 2]],
        "photo": b"raw",
    }


def test_multipart_gives_text_fields_and_files() -> None:
    body, content_type = urllib3.encode_multipart_formdata({"rpm": "600", "image": ("cat.png", b"\x00\x01")})
    form, filenames = parse_multipart(content_type, body)
    assert form == {"rpm": "600", "image": b"\x00\x01"}
    assert filenames == {"image": "cat.png"}


def test_a_broken_multipart_body_is_refused() -> None:
    with pytest.raises(RequestError) as caught:
        parse_multipart("multipart/form-data", b"garbage")
    assert caught.value.status == 400


def test_model_json_is_read_tolerating_extra_keys(tmp_path: Path) -> None:
    manifest = {
        "name": "fan",
        "version": "2.0.0",
        "framework": "tflite",
        "model_file": "model.tflite",
        "preprocess": "pre.py:scale",
        "inputs": [{"name": "rpm", "type": "float", "minimum": 0, "description": "speed"}],
        "outputs": [{"name": "p", "type": "float"}],
        "resources": {"cpu": 1},
        "something_new": True,
    }
    (tmp_path / "model.json").write_text(json.dumps(manifest))
    spec = read_package(tmp_path)
    assert (spec.name, spec.version, spec.framework, spec.legacy) == ("fan", "2.0.0", "tflite", None)
    assert spec.inputs == [FieldSpec("rpm", "float", minimum=0)]
    assert spec.model_path() == tmp_path / "model.tflite"


def test_a_legacy_config_is_read_with_its_image_convention(tmp_path: Path) -> None:
    config = {
        "name": "Signature Authentication",
        "preprocessing": {"name": "pre.py", "method_name": "prep", "input_params": [{"sensor_img": "jpg"}]},
        "prediction": {"name": "model.h5", "model_type": "h5"},
        "postprocessing": {"name": "post.py", "method_name": "post"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    spec = read_package(tmp_path)
    assert spec.framework == "keras"
    assert (spec.preprocess, spec.postprocess) == ("pre.py:prep", "post.py:post")
    assert spec.legacy is not None and spec.legacy.input_kind == "image"
    assert spec.inputs == [FieldSpec("image", "image")]


@pytest.mark.parametrize("content", ["{not json", "[1]", '{"framework": "sklearn"}'])
def test_a_bad_manifest_is_a_package_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "model.json").write_text(content)
    with pytest.raises(PackageError, match=r"model\.json"):
        read_package(tmp_path)


def test_a_package_without_a_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"neither model\.json nor a legacy config\.json"):
        read_package(tmp_path)
