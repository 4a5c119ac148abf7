"""The app instance a workload runs as: its bound devices and declared models, by the names the app uses.

Inside an app instance (CANOPY_INSTANCE_ID set) the SDK resolves a role or model name through
GET /api/v1/app-instances/self, asked once per gateway and token and then kept: the bindings of a
running instance do not change. Outside one, names are device ids and model ids or names as they are.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from platform_sdk import environment
from platform_sdk._client import ApiClient
from platform_sdk.errors import CanopyError, NotFound

SELF_PATH = "/api/v1/app-instances/self"


@dataclass(frozen=True)
class Binding:
    """One role of the app bound to a device: the device id, its type, kind and type definition."""

    role: str
    device: str
    type: str
    kind: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class InstanceView:
    """What GET /app-instances/self tells an instance about itself."""

    id: str
    app: str
    format: str
    devices: dict[str, Binding]
    models: dict[str, str]

    def binding(self, role: str) -> Binding:
        """The device bound to `role`; NotFound naming the roles the app declared when it has none."""
        found = self.devices.get(role)
        if found is None:
            declared = ", ".join(sorted(self.devices)) or "none"
            raise NotFound(
                f"app {self.app!r} declares no device role {role!r}; its roles are: {declared}. "
                "Use a role name from the app's manifest (legacy apps: sensor_<index>, controller_<index>)",
                details={"role": role, "declared": sorted(self.devices)},
            )
        return found

    def model_id(self, name: str) -> str:
        """The model id of a declared model name (a declared model's id passes through as it is)."""
        if name in self.models:
            return self.models[name]
        if name in self.models.values():
            return name
        declared = ", ".join(sorted(self.models)) or "none"
        raise NotFound(
            f"app {self.app!r} declares no model {name!r}; its models are: {declared}. "
            "Use a model name from the app's manifest (legacy apps: model_<position>)",
            details={"model": name, "declared": sorted(self.models)},
        )


def parse_view(answer: Any) -> InstanceView:
    """An InstanceView from the gateway's JSON answer; CanopyError when it is not one."""
    try:
        devices = {
            str(role): Binding(
                role=str(role),
                device=str(bound["device"]),
                type=str(bound.get("type", "")),
                kind=str(bound.get("kind", "")),
                definition=dict(bound.get("definition") or {}),
            )
            for role, bound in dict(answer.get("devices") or {}).items()
        }
        models = {str(name): str(model) for name, model in dict(answer.get("models") or {}).items()}
        return InstanceView(
            str(answer["id"]), str(answer.get("app", "")), str(answer.get("format", "")), devices, models
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise CanopyError(
            f"the gateway's answer to GET {SELF_PATH} is not an instance view ({exc!r})"
        ) from None


_views: dict[tuple[str, str], InstanceView] = {}
_lock = threading.Lock()


def inside_instance() -> bool:
    """Whether this process runs as an app instance (CANOPY_INSTANCE_ID is set)."""
    return bool(environment.instance_id())


def instance_view(client: ApiClient) -> InstanceView:
    """The instance's own view, asked of the gateway the first time and kept per gateway and token."""
    key = (client.api_url, client.token)
    with _lock:
        view = _views.get(key)
        if view is None:
            view = _views[key] = parse_view(client.get(SELF_PATH))
        return view
