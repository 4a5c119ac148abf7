"""The gateway's JSON keeps a type's field and parameter order, which the SDK's legacy calls rely on."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask.testing import FlaskClient

from canopy.roles import Role
from tests.functional.conftest import bearer


def test_a_type_definition_comes_back_in_its_declared_order(
    client: FlaskClient, issue_token: Callable[[Role], str]
) -> None:
    admin = bearer(issue_token(Role.PLATFORM_ADMIN))
    names = ["zeta", "alpha", *(f"data_{i}" for i in range(1, 12))]
    fields = {name: {"type": "float"} for name in names}
    definition = {
        "name": "ORDERED",
        "kind": "controller",
        "state": fields,
        "commands": {"set": {"parameters": fields}},
    }
    assert client.post("/api/v1/device-types", headers=admin, json=definition).status_code == 201
    shown = json.loads(client.get("/api/v1/device-types/ORDERED", headers=admin).data)["definition"]
    assert list(shown["state"]) == names
    assert list(shown["commands"]["set"]["parameters"]) == names
