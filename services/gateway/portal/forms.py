"""Turning a refusal from the domain code into what a form shows next to its fields."""

from __future__ import annotations

from collections.abc import Mapping

from canopy.errors import CanopyError


def upload_problems(error: CanopyError) -> list[str]:
    """Every problem of a refused upload, each naming its file and field when the check did."""
    details = error.details
    if isinstance(details, Mapping):
        listed = details.get("problems")
        if isinstance(listed, list) and listed:
            return [_problem_text(problem) for problem in listed]
        if details:
            return [f"{key}: {value}" for key, value in details.items()]
    return [error.message]


def _problem_text(problem: object) -> str:
    """'file: field: problem' for a checker's {file, field, problem} entry; anything else as it is."""
    if isinstance(problem, Mapping) and "problem" in problem:
        where = [str(problem[key]) for key in ("file", "field") if problem.get(key)]
        return ": ".join([*where, str(problem["problem"])])
    return str(problem)


def field_problems(error: CanopyError, default_field: str) -> dict[str, str]:
    """A form's problems by field name; a refusal that names no field lands on `default_field`."""
    details = error.details
    if isinstance(details, Mapping) and details and "problems" not in details:
        return {str(key): str(value) for key, value in details.items()}
    return {default_field: error.message}
