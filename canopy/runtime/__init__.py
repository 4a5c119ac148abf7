"""The service runtime: start/stop components wired through constructors, run until SIGTERM."""

from __future__ import annotations

from canopy.runtime.component import Component
from canopy.runtime.service import Service

__all__ = ["Component", "Service"]
