"""Requirement lines as data: `name[extras] <op> version, ...; markers`, never URLs, paths or pip options.

The one reader of model requirements: used at upload (model.json lists, requirements files, the legacy
config.json `dependency` file) and again by the deployer before anything reaches pip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from packaging.requirements import InvalidRequirement, Requirement

from canopy.errors import ValidationFailed

ALLOWED_OPERATORS = frozenset({"==", ">=", "<=", "~=", "!=", "<", ">"})
NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz", ".xz", ".txz", ".tlz", ".lz")
VCS_PREFIXES = ("git+", "hg+", "svn+", "bzr+")
PATH_MARKS = ("/", "\\")
EMPTY_VERSION = re.compile(r"(===|==|>=|<=|~=|!=|<|>)\s*(,|;|$)")
MAX_LENGTH = 400


def requirement_problem(text: str) -> str | None:
    """Why one requirement is refused, or None when it is a plain index requirement."""
    if len(text) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "holds a control character (a line break, tab, ...); write one requirement per line"
    if text.startswith("-"):
        return f"pip options such as {text.split()[0]!r} are not allowed; list requirements only"
    if text.lower().startswith(VCS_PREFIXES):
        return "VCS requirements are not allowed; pin a release from the package index"
    if "://" in text or "@" in text:
        return "direct URLs are not allowed; pin a release from the package index (name==version)"
    if "${" in text:
        return "environment variables are not allowed"
    head = text.split(";", 1)[0]
    if head.startswith((".", "~")) or any(mark in head for mark in PATH_MARKS):
        return "local paths are not allowed; pin a release from the package index"
    if empty := EMPTY_VERSION.search(head):
        return f"the specifier {empty.group(1)!r} has no version"
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        return f"is not a valid requirement ({str(exc).splitlines()[0]}); write name==version"
    name = requirement.name
    if name.lower().endswith(ARCHIVE_SUFFIXES) or not NAME.match(name):
        return f"{name!r} looks like a file, not a package name; pin a release from the package index"
    for spec in requirement.specifier:
        if spec.operator not in ALLOWED_OPERATORS:
            allowed = " ".join(sorted(ALLOWED_OPERATORS))
            return f"the operator {spec.operator!r} is not allowed; use one of {allowed}"
    return None


def parse_requirements(lines: Sequence[str], location: str) -> tuple[list[str], dict[str, str]]:
    """Requirement strings kept exactly as written (pins honoured), and problems keyed by location.

    Blank lines and '#' comments are skipped. `location` formats a problem's key from `{index}`
    (from 0) or `{line}` (from 1).
    """
    kept: list[str] = []
    problems: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = str(line).split(" #", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        problem = requirement_problem(text)
        if problem is None:
            kept.append(text)
        else:
            problems[location.format(index=number - 1, line=number)] = f"{text!r}: {problem}"
    return kept, problems


def checked_requirements(requirements: Sequence[str], source: str) -> list[str]:
    """The requirements, every one valid; ValidationFailed names each refused entry and why."""
    kept, problems = parse_requirements(requirements, "requirements[{index}]")
    if problems:
        summary = "; ".join(f"{where}: {problem}" for where, problem in problems.items())
        raise ValidationFailed(f"{source} refused: {summary}", details=problems)
    return kept
