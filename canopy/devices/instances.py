"""Device instances, pure: the spec they are registered with, location paths, credentials and status."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from canopy.devices.schema import TypeName, matching, validated

SEPARATORS = re.compile(r"[^a-z0-9]+")
MAX_DEPTH = 8
MAX_SEGMENT = 64
MAX_PATH = 255


def slug(text: str) -> str:
    """Lower-case ASCII letters and digits joined by single '-': 'São Paulo' gives 'sao-paulo'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return SEPARATORS.sub("-", ascii_text.lower()).strip("-")


def normalise_path(raw: str) -> str:
    """A path with each '/'-separated segment slugged and empty ones dropped; ValueError if bad."""
    segments = [slug(segment) for segment in raw.split("/")]
    segments = [segment for segment in segments if segment]
    if not segments:
        raise ValueError("a location needs at least one segment of letters or digits, e.g. hyd/main-street")
    if len(segments) > MAX_DEPTH:
        raise ValueError(f"a location has at most {MAX_DEPTH} segments; got {len(segments)}")
    if any(len(segment) > MAX_SEGMENT for segment in segments):
        raise ValueError(f"each location segment has at most {MAX_SEGMENT} characters")
    path = "/".join(segments)
    if len(path) > MAX_PATH:
        raise ValueError(f"a location path has at most {MAX_PATH} characters")
    return path


def legacy_path(city: str, street: str) -> str:
    """The path of the original platform's geo_location {street, city}: city/street."""
    return normalise_path(f"{city}/{street}")


def is_within(path: str, prefix: str) -> bool:
    """Whether `path` is the location `prefix` or lies under it (both normalised)."""
    return path == prefix or path.startswith(f"{prefix}/")


class LocationSpec(BaseModel):
    """Where a device sits: a path (normalised on input) and optional latitude and longitude."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        """Accept a bare path string for {"path": ...}."""
        return {"path": value} if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _normalised(cls, value: str) -> str:
        return normalise_path(value)

    @model_validator(mode="after")
    def _both_or_neither(self) -> LocationSpec:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


CREDENTIAL_PREFIX = "cnd_"


def credential_digest(secret: str) -> str:
    """The SHA-256 hex digest stored in place of a device credential."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_credential() -> tuple[str, str]:
    """A fresh device credential and its digest: (secret to show once, digest to store)."""
    secret = f"{CREDENTIAL_PREFIX}{secrets.token_urlsafe(32)}"
    return secret, credential_digest(secret)


def credential_matches(stored_digest: str, presented: str) -> bool:
    """Whether a presented credential is the one whose digest is stored, in constant time."""
    return hmac.compare_digest(stored_digest, credential_digest(presented))


DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
TRANSPORTS = ("kafka", "mqtt", "http")
MAX_LABELS = 32
ONLINE_WINDOW = timedelta(seconds=60)
DeviceId = Annotated[
    str, matching(DEVICE_ID, "1-64 lower-case letters, digits or '-', starting with a letter or digit")
]


class DeviceSpec(BaseModel):
    """A device to register; without an id, one is generated from the type name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: DeviceId | None = None
    type: TypeName
    location: LocationSpec
    transport: Literal["kafka", "mqtt", "http"] = "kafka"
    config: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels_are_small(cls, labels: dict[str, str]) -> dict[str, str]:
        if len(labels) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} labels")
        if any(not 1 <= len(key) <= 64 or len(value) > 256 for key, value in labels.items()):
            raise ValueError("label keys have 1-64 characters and values at most 256")
        return labels

    def with_id(self) -> DeviceSpec:
        """The spec with its id filled in: the given one, or '<type>-<6 hex digits>'."""
        if self.id is not None:
            return self
        prefix = (slug(self.type) or "device")[:50]
        return self.model_copy(update={"id": f"{prefix}-{secrets.token_hex(3)}"})


def parse_device(document: Any) -> DeviceSpec:
    """A DeviceSpec from JSON data, or ValidationFailed naming each bad field."""
    return validated(DeviceSpec, document, "device")


def device_status(last_seen: datetime | None, now: datetime) -> str:
    """'online' if the device was seen within ONLINE_WINDOW of `now`, else 'offline'."""
    return "online" if last_seen is not None and now - last_seen <= ONLINE_WINDOW else "offline"
