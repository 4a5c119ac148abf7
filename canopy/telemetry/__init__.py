"""Telemetry shared by the gateway and the device manager: device lookup, the ingest rules, storage."""

from __future__ import annotations
