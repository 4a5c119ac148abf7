"""Reads what the model server needs from model.json or a legacy config.json, and imports package code."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_FILE = "model.json"
LEGACY_FILE = "config.json"
IMAGE_SUFFIXES = ("jpg", "jpeg", "png", "bmp")
LEGACY_TYPES = {"float": "float", "int": "int", "integer": "int", "str": "string", "string": "string"}
LEGACY_TYPES.update({"bool": "bool", "boolean": "bool", "list": "array", "dict": "object"})


class PackageError(Exception):
    """The package cannot be served: its manifest is missing or names something that is not there."""


@dataclass(frozen=True)
class FieldSpec:
    """One named input or output field of the model's schema."""

    name: str
    type: str
    shape: list[int | None] | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class LegacySpec:
    """How a legacy model is called: preprocess(body or image path) -> model.predict -> postprocess."""

    input_kind: str
    image_field: str = "image"
    predict_method: str = "predict"
    response_key: str = "output"


@dataclass(frozen=True)
class ServingSpec:
    """Everything the server needs to load and call one model package."""

    root: Path
    name: str
    version: str
    framework: str
    model_file: str | None
    model_class: str | None
    preprocess: str | None
    postprocess: str | None
    inputs: list[FieldSpec]
    outputs: list[FieldSpec]
    legacy: LegacySpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def model_path(self) -> Path:
        """The model file (or SavedModel directory) inside the package."""
        if not self.model_file:
            raise PackageError(f"model '{self.name}' names no model_file")
        return self.root / self.model_file


def read_package(root: Path) -> ServingSpec:
    """Read model.json, or else the original platform's config.json, from an extracted package."""
    if (root / MANIFEST_FILE).is_file():
        return _from_manifest(root, _load_json(root / MANIFEST_FILE))
    if (root / LEGACY_FILE).is_file():
        return _from_legacy(root, _load_json(root / LEGACY_FILE))
    raise PackageError(f"{root} holds neither {MANIFEST_FILE} nor a legacy {LEGACY_FILE}")


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PackageError(f"cannot read {path.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise PackageError(f"{path.name} must hold a JSON object")
    return data


def _fields(raw: Any) -> list[FieldSpec]:
    return [
        FieldSpec(
            name=str(item["name"]),
            type=str(item.get("type", "object")),
            shape=item.get("shape"),
            minimum=item.get("minimum"),
            maximum=item.get("maximum"),
        )
        for item in raw or []
    ]


def _from_manifest(root: Path, data: dict[str, Any]) -> ServingSpec:
    try:
        convention = data.get("legacy_convention")
        legacy = None
        if convention:
            legacy = LegacySpec(
                input_kind=str(convention.get("input_kind", "json")),
                image_field=str(convention.get("image_field") or "image"),
                predict_method=str(convention.get("predict_method", "predict")),
                response_key=str(convention.get("response_key", "output")),
            )
        return ServingSpec(
            root=root,
            name=str(data["name"]),
            version=str(data.get("version", "1")),
            framework=str(data["framework"]),
            model_file=data.get("model_file"),
            model_class=data.get("model_class"),
            preprocess=data.get("preprocess"),
            postprocess=data.get("postprocess"),
            inputs=_fields(data.get("inputs")),
            outputs=_fields(data.get("outputs")),
            legacy=legacy,
            extra=data,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PackageError(f"{MANIFEST_FILE} is invalid: missing or malformed {exc}") from exc


def _legacy_params(section: dict[str, Any]) -> dict[str, str]:
    params = section.get("input_params") or [{}]
    first = params[0] if isinstance(params, list) and params and isinstance(params[0], dict) else {}
    return {str(name): str(kind).lower() for name, kind in first.items()}


def _from_legacy(root: Path, data: dict[str, Any]) -> ServingSpec:
    try:
        pre, pred, post = data["preprocessing"], data["prediction"], data["postprocessing"]
        params = _legacy_params(pre)
        image_names = [name for name, kind in params.items() if kind in IMAGE_SUFFIXES]
        model_type = str(pred.get("model_type", "pkl")).lower()
        return ServingSpec(
            root=root,
            name=str(data["name"]),
            version=str(data.get("version", "1")),
            framework="keras" if model_type == "h5" else "sklearn",
            model_file=str(pred["name"]),
            model_class=None,
            preprocess=f"{pre['name']}:{pre.get('method_name', 'preprocess')}",
            postprocess=f"{post['name']}:{post.get('method_name', 'postprocess')}",
            inputs=[FieldSpec(name, LEGACY_TYPES.get(kind, "object")) for name, kind in params.items()]
            if not image_names
            else [FieldSpec("image", "image")],
            outputs=[FieldSpec("output", "object")],
            legacy=LegacySpec(input_kind="image" if image_names else "json"),
            extra=data,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise PackageError(f"{LEGACY_FILE} is invalid: missing or malformed {exc}") from exc


def load_ref(root: Path, ref: str) -> Any:
    """Import file.py from the package and return the object it names; errors in that code propagate."""
    file_name, _, attribute = ref.rpartition(":")
    path = (root / file_name).resolve()
    if not path.is_file():
        raise PackageError(f"'{ref}' names {file_name}, which is not in the package")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module_name = "_canopy_package_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    module = sys.modules.get(module_name)
    if module is None:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise PackageError(f"cannot import {file_name}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise PackageError(f"{file_name} defines no '{attribute}' (named by '{ref}')") from None
