"""Checks of an app's Python code with `ast` only: its files parse, its entry exists, its page port."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from canopy.models.validate import inside, parse_module, top_level_names

RUN_METHOD = "run"  # app.run(host, port) / app.run(port=N), as Flask apps start their server
PORT_KEYWORD = "port"
PORT_POSITION = 1


@dataclass(frozen=True)
class FoundPort:
    """A port number written literally in a `.run(...)` call, and the line it is on."""

    port: int
    line: int


def _module_files(module: str, function: str) -> list[str]:
    """The files a dotted module may live in: a module file, or a package run or imported."""
    base = module.replace(".", "/")
    return [f"{base}.py", f"{base}/__init__.py" if function else f"{base}/__main__.py"]


def python_file_problem(root: Path, relative: str) -> str | None:
    """Why `relative` is not a Python file of the package that parses, or None when it is."""
    if not relative.endswith(".py"):
        return f"{relative} is not a Python file (.py)"
    found = inside(root, relative)
    if found is None or not found.is_file():
        return f"file {relative} is not in the package"
    try:
        parse_module(found)
    except ValueError as exc:
        return f"{relative}: {exc}"
    return None


def entry_problem(root: Path, entry: str) -> str | None:
    """Why an entry ('file.py', 'module' or 'module:function') does not resolve, or None when it does."""
    if entry.endswith(".py"):
        return python_file_problem(root, entry)
    module, _, function = entry.partition(":")
    candidates = _module_files(module, function)
    found = next((path for name in candidates if (path := inside(root, name)) and path.is_file()), None)
    if found is None:
        return f"module {module} is not in the package (looked for {' and '.join(candidates)})"
    relative = found.relative_to(root.resolve()).as_posix()
    try:
        tree = parse_module(found)
    except ValueError as exc:
        return f"{relative}: {exc}"
    if function and function not in top_level_names(tree):
        return f"{relative} does not define a function named {function!r}"
    return None


def _literal_port(call: ast.Call) -> ast.expr | None:
    """The port argument of a `.run(...)` call: the `port=` keyword, else the second positional."""
    for keyword in call.keywords:
        if keyword.arg == PORT_KEYWORD:
            return keyword.value
    return call.args[PORT_POSITION] if len(call.args) > PORT_POSITION else None


def page_port(root: Path, relative: str) -> FoundPort | None:
    """The first literal port of a `.run(..., port=N)` call in a Python file, or None if there is none."""
    found = inside(root, relative)
    if found is None or not found.is_file():
        return None
    try:
        tree = parse_module(found)
    except ValueError:
        return None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr != RUN_METHOD:
            continue
        value = _literal_port(node)
        if isinstance(value, ast.Constant) and type(value.value) is int:
            return FoundPort(value.value, node.lineno)
    return None
