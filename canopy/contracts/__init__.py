"""Typed, versioned messages and the topics they travel on."""

from __future__ import annotations

from canopy.contracts import bookings, deploy, devices, notifications, topics
from canopy.contracts.base import Envelope, Message, contract, decode, encode, registered_types
from canopy.contracts.system import DeadLetter, Heartbeat, LogRecord

__all__ = [
    "DeadLetter",
    "Envelope",
    "Heartbeat",
    "LogRecord",
    "Message",
    "bookings",
    "contract",
    "decode",
    "deploy",
    "devices",
    "encode",
    "notifications",
    "registered_types",
    "topics",
]
