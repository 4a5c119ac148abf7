"""Check an extracted model package without importing or running any of its code."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canopy.errors import ValidationFailed
from canopy.models.legacy import LEGACY_MANIFEST_FILE, legacy_manifest_data
from canopy.models.manifest import (
    MANIFEST_FILE,
    MODEL_FILE_SUFFIXES,
    Framework,
    ModelManifest,
    parse_fields,
    split_code_ref,
)
from canopy.models.requirements import parse_requirements

IGNORED_TOP_LEVEL = frozenset({"__MACOSX"})
SAVED_MODEL_FILE = "saved_model.pb"
MODEL_CLASS_METHODS = ("load", "predict")
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class ValidatedPackage:
    """A package that passed validation: the folder holding its files and its normalised manifest."""

    root: Path
    manifest: ModelManifest


def package_folders(extracted: Path) -> list[Path]:
    """Where a package's manifest may sit: the archive's top, then its one top folder if it has one."""
    candidates = [extracted]
    top = [entry for entry in extracted.iterdir() if entry.name not in IGNORED_TOP_LEVEL]
    if len(top) == 1 and top[0].is_dir():
        candidates.append(top[0])
    return candidates


def find_package_root(
    extracted: Path, markers: tuple[str, ...] = (MANIFEST_FILE, LEGACY_MANIFEST_FILE)
) -> Path:
    """The folder holding one of the `markers` (model.json or legacy config.json by default)."""
    for folder in package_folders(extracted):
        if any((folder / name).is_file() for name in markers):
            return folder
    raise ValidationFailed(
        f"the package has no {' or '.join(markers)} at its top level", details={markers[0]: "missing"}
    )


def _read_json(path: Path) -> Any:
    """Parse a manifest file, saying where JSON syntax breaks."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"{path.name} is not UTF-8 text", details={path.name: str(exc)}) from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise ValidationFailed(
            f"{path.name} is not valid JSON ({where})", details={path.name: where}
        ) from exc


def read_manifest(root: Path) -> ModelManifest:
    """The manifest of the package at root: model.json, else the legacy config.json normalised."""
    if (root / MANIFEST_FILE).is_file():
        return parse_fields(ModelManifest, _read_json(root / MANIFEST_FILE), MANIFEST_FILE)
    data = legacy_manifest_data(_read_json(root / LEGACY_MANIFEST_FILE))
    return parse_fields(ModelManifest, data, f"{LEGACY_MANIFEST_FILE} (normalised)")


def inside(root: Path, relative: str) -> Path | None:
    """The existing path named by a manifest path, or None if absent or outside the package."""
    path = (root / relative).resolve()
    return path if path.is_relative_to(root.resolve()) and path.exists() else None


def _model_file_problem(manifest: ModelManifest, found: Path) -> str | None:
    """Why the model file does not suit the framework, or None when it does."""
    if manifest.framework is Framework.PYTHON:
        return None
    if manifest.framework is Framework.KERAS and found.is_dir():
        has_graph = (found / SAVED_MODEL_FILE).is_file()
        return None if has_graph else f"a SavedModel folder must hold {SAVED_MODEL_FILE}"
    accepted = MODEL_FILE_SUFFIXES[manifest.framework]
    if found.is_file() and found.suffix.lower() in accepted:
        return None
    also = " or a SavedModel folder" if manifest.framework is Framework.KERAS else ""
    return f"a {manifest.framework} model must be a {' / '.join(accepted)} file{also}"


def top_level_names(tree: ast.Module) -> dict[str, ast.stmt]:
    """Names a module binds at its top level (def, class, assignment, import), to their statements."""
    bound: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (*FUNCTION_NODES, ast.ClassDef)):
            bound[node.name] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update({(alias.asname or alias.name).split(".")[0]: node for alias in node.names})
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound.update({target.id: node for target in targets if isinstance(target, ast.Name)})
    return bound


def parse_module(path: Path) -> ast.Module:
    """Parse a Python file without running it; ValueError says why it cannot be parsed."""
    try:
        return ast.parse(path.read_bytes(), filename=path.name)
    except SyntaxError as exc:
        raise ValueError(f"syntax error at line {exc.lineno}: {exc.msg}") from exc
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ValueError(f"cannot be parsed as Python ({type(exc).__name__})") from exc


def _code_ref_problem(root: Path, field: str, ref: str) -> str | None:
    """Why a 'file.py:name' reference does not resolve, or None when it does."""
    relative, name = split_code_ref(ref)
    found = inside(root, relative)
    if found is None or not found.is_file():
        return f"file {relative} is not in the package"
    try:
        bound = top_level_names(parse_module(found))
    except ValueError as exc:
        return f"{relative}: {exc}"
    if name not in bound:
        kind = "class" if field == "model_class" else "function"
        return f"{relative} does not define a {kind} named {name!r}"
    if field == "model_class":
        return _model_class_problem(bound[name], relative, name)
    return None


def _model_class_problem(node: ast.stmt, relative: str, name: str) -> str | None:
    """Why the statement binding a python-framework model class is not a class with load and predict."""
    if not isinstance(node, ast.ClassDef):
        return f"{relative}: {name!r} is not a class"
    methods = {item.name for item in node.body if isinstance(item, FUNCTION_NODES)}
    missing = [method for method in MODEL_CLASS_METHODS if method not in methods]
    if missing:
        return f"class {name} in {relative} does not define {', '.join(missing)}()"
    return None


def _requirements(root: Path, manifest: ModelManifest) -> tuple[list[str], dict[str, str]]:
    """The manifest's requirements as a list, read from its requirements file when it names one."""
    if isinstance(manifest.requirements, list):
        return parse_requirements(manifest.requirements, "requirements[{index}]")
    found = inside(root, manifest.requirements)
    if found is None or not found.is_file():
        return [], {"requirements": f"file {manifest.requirements} is not in the package"}
    try:
        text = found.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [], {"requirements": f"{manifest.requirements} is not UTF-8 text"}
    return parse_requirements(text.splitlines(), f"{manifest.requirements}:{{line}}")


def validate_package(extracted: Path) -> ValidatedPackage:
    """Check an extracted package's manifest, files, hooks and requirements; return it normalised."""
    root = find_package_root(extracted)
    manifest = read_manifest(root)
    problems: dict[str, str] = {}
    if manifest.model_file is not None:
        found = inside(root, manifest.model_file)
        problem = _model_file_problem(manifest, found) if found else f"{manifest.model_file} is missing"
        if problem:
            problems["model_file"] = problem
    if manifest.readme is not None and inside(root, manifest.readme) is None:
        problems["readme"] = f"{manifest.readme} is missing"
    for field, ref in manifest.code_refs().items():
        if problem := _code_ref_problem(root, field, ref):
            problems[field] = problem
    requirements, requirement_problems = _requirements(root, manifest)
    problems.update(requirement_problems)
    if problems:
        summary = "; ".join(f"{field}: {problem}" for field, problem in problems.items())
        raise ValidationFailed(f"the model package is invalid: {summary}", details=problems)
    return ValidatedPackage(root, manifest.model_copy(update={"requirements": requirements}))
