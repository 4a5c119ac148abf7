"""Typed, versioned messages: one registry decodes every payload or says why it cannot."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from canopy.errors import DecodeError


class Message(BaseModel):
    """Base of every contract; subclasses are registered with @contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    TOPIC: ClassVar[str] = ""


class SignedMessage(Message):
    """A message carrying an Ed25519 signature by its sender over every other field."""

    signature: str = ""

    def signed_payload(self) -> bytes:
        """The canonical bytes the signature covers: every field but the signature."""
        return self.model_copy(update={"signature": ""}).model_dump_json().encode()


@dataclass(frozen=True)
class Envelope:
    """A decoded message with its envelope fields."""

    message_id: str
    sent_at: datetime
    message: Message


_REGISTRY: dict[tuple[str, int], type[Message]] = {}
M = TypeVar("M", bound=type[Message])


def contract(message_type: str, *, topic: str, version: int = 1) -> Callable[[M], M]:
    """Register a message class under its type name and version, travelling on `topic`."""

    def register(cls: M) -> M:
        if (message_type, version) in _REGISTRY:
            raise ValueError(f"contract {message_type} v{version} is declared twice")
        cls.TYPE, cls.VERSION, cls.TOPIC = message_type, version, topic
        _REGISTRY[(message_type, version)] = cls
        return cls

    return register


def registered_types() -> list[tuple[str, int, str]]:
    """Every registered (type, version, topic), sorted."""
    return sorted((key[0], key[1], cls.TOPIC) for key, cls in _REGISTRY.items())


def encode(message: Message, *, message_id: str | None = None) -> bytes:
    """Serialise a message into its JSON envelope."""
    if (message.TYPE, message.VERSION) not in _REGISTRY:
        raise TypeError(f"{type(message).__name__} is not a registered contract")
    envelope = {
        "type": message.TYPE,
        "version": message.VERSION,
        "id": message_id or uuid.uuid4().hex,
        "sent_at": datetime.now(UTC).isoformat(),
        "data": message.model_dump(mode="json"),
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def decode(raw: bytes) -> Envelope:
    """Parse and validate a payload; raise DecodeError with the reason when it is unknown or invalid."""
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"payload is not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise DecodeError("payload is not a JSON object envelope")
    missing = [field for field in ("type", "version", "id", "sent_at", "data") if field not in envelope]
    if missing:
        raise DecodeError(f"envelope lacks {', '.join(missing)}")
    cls = _REGISTRY.get((str(envelope["type"]), _as_int(envelope["version"])))
    if cls is None:
        raise DecodeError(f"unknown message type {envelope['type']!r} version {envelope['version']!r}")
    try:
        message = cls.model_validate(envelope["data"])
        sent_at = datetime.fromisoformat(str(envelope["sent_at"]))
    except (ValidationError, ValueError) as exc:
        raise DecodeError(f"invalid {cls.TYPE} v{cls.VERSION}: {_first_line(exc)}") from exc
    return Envelope(str(envelope["id"]), sent_at, message)


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) else -1


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['msg']}" for e in exc.errors())
    return str(exc).splitlines()[0]
