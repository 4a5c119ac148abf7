"""The simulator configuration file: which devices to run, how fast, over which transport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulators.controllers import INITIAL_STATE
from simulators.generators import GENERATORS


class DeviceConfig(BaseModel):
    """One simulated device: its registered id and credential, its type, transport and reading rate."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    type: str
    token: str = Field(min_length=1)
    transport: Literal["kafka", "mqtt", "http"] = "mqtt"
    rate: float = Field(default=1.0, ge=0, le=10_000, description="readings per second; 0: only on commands")
    seed: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_type(self) -> DeviceConfig:
        """Refuse types without a simulator and controllers on http."""
        if self.type not in GENERATORS and self.type not in INITIAL_STATE:
            known = ", ".join([*GENERATORS, *INITIAL_STATE])
            raise ValueError(f"no simulator for type {self.type!r}; known: {known}")
        if self.type in INITIAL_STATE and self.transport == "http":
            raise ValueError("controllers cannot receive commands over http; use mqtt or kafka")
        return self

    @property
    def is_controller(self) -> bool:
        """Whether this device is a controller."""
        return self.type in INITIAL_STATE


class FleetConfig(BaseModel):
    """Every simulated device and where the platform is."""

    model_config = ConfigDict(extra="forbid")

    devices: list[DeviceConfig] = Field(min_length=1)
    bus_url: str | None = Field(default=None, description="for kafka devices; default CANOPY_BUS_URL")
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    api_url: str | None = Field(default=None, description="for http devices; default CANOPY_API_URL")


def parse_config(document: Any) -> FleetConfig:
    """A FleetConfig from JSON data; ValueError naming the bad field otherwise."""
    try:
        return FleetConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid simulator config: {problems}") from None


def load_config_file(path: Path) -> FleetConfig:
    """Read and parse a JSON simulator config file."""
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read simulator config {path}: {exc}") from exc
    return parse_config(document)
