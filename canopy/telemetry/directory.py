"""Who a device is: the seam between the telemetry path and the device registry, with a short cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from canopy.devices.instances import credential_matches

REFRESH_BATCH = 500  # devices looked up in one query by the background refresh
CheckReading = Callable[[dict[str, Any]], dict[str, Any]]
CheckCommand = Callable[[str | None, dict[str, Any]], tuple[str, dict[str, Any]]]


def accept_reading(reading: dict[str, Any]) -> dict[str, Any]:
    """A reading check that accepts every reading unchanged."""
    return reading


def accept_command(command: str | None, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A command check that accepts every command unchanged ('set' when none is named)."""
    return command or "set", params


@dataclass(frozen=True)
class DeviceRecord:
    """What the telemetry path needs to know about one device instance and its current type."""

    device_id: str
    device_type: str
    kind: str
    transport: str
    token_hash: str
    check_reading: CheckReading = field(default=accept_reading, compare=False)
    check_command: CheckCommand = field(default=accept_command, compare=False)

    def verify_token(self, token: str) -> bool:
        """Whether `token` is this device's credential (constant-time comparison of digests)."""
        return credential_matches(self.token_hash, token)


class DeviceDirectory(Protocol):
    """Finds device instances by id; None when there is no such device."""

    def find(self, device_id: str) -> DeviceRecord | None:
        """The device called `device_id` with its current type, or None."""

    def find_many(self, device_ids: Collection[str]) -> dict[str, DeviceRecord | None]:
        """Each of the devices by id (None for those that do not exist), in one lookup."""


class MemoryDirectory:
    """A directory held in memory, for simulators, tests and benchmarks."""

    def __init__(self, records: list[DeviceRecord] | None = None) -> None:
        self.records = {record.device_id: record for record in records or []}

    def add(self, record: DeviceRecord) -> None:
        """Add or replace a device."""
        self.records[record.device_id] = record

    def find(self, device_id: str) -> DeviceRecord | None:
        """The device, or None."""
        return self.records.get(device_id)

    def find_many(self, device_ids: Collection[str]) -> dict[str, DeviceRecord | None]:
        """Each of the devices, or None."""
        return {device_id: self.records.get(device_id) for device_id in device_ids}


class CachedDirectory:
    """Remembers lookups (misses included) for `ttl` seconds, so type edits show within about that time.

    With `background`, an expired device is served from the cache while one worker thread looks it
    up again, so a busy ingest loop never waits for the store (only first lookups do). The worker looks
    up, in the same query, every known device past half its ttl, so a fleet is refreshed in a few queries a
    ttl rather than one per device.
    """

    def __init__(
        self,
        inner: DeviceDirectory,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = False,
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self.clock = clock
        self.background = background
        self._entries: dict[str, tuple[float, DeviceRecord | None]] = {}
        self._lock = threading.Lock()
        self._due: set[str] = set()
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None

    def find(self, device_id: str) -> DeviceRecord | None:
        """The device from the cache if fresh, else from the inner directory."""
        now = self.clock()
        with self._lock:
            entry = self._entries.get(device_id)
            if entry is not None and now - entry[0] < self.ttl:
                return entry[1]
            if entry is not None and self.background:
                self._schedule(device_id)
                return entry[1]
        return self._load(device_id, now)

    def find_many(self, device_ids: Collection[str]) -> dict[str, DeviceRecord | None]:
        """Each of the devices, from the cache where fresh."""
        return {device_id: self.find(device_id) for device_id in device_ids}

    def _load(self, device_id: str, now: float) -> DeviceRecord | None:
        """Look a device up in the inner directory and cache the answer."""
        return self._load_many([device_id], now)[device_id]

    def _load_many(self, device_ids: Collection[str], now: float) -> dict[str, DeviceRecord | None]:
        """Look devices up in the inner directory in one go and cache the answers."""
        records = self.inner.find_many(device_ids)
        with self._lock:
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries.update((device_id, (now, record)) for device_id, record in records.items())
        return records

    def _schedule(self, device_id: str) -> None:
        """Queue a refresh (the lock is held); start the worker on first use."""
        self._due.add(device_id)
        self._wake.notify()
        if self._worker is None:
            self._worker = threading.Thread(target=self._refresh_loop, name="directory-refresh", daemon=True)
            self._worker.start()

    def _refresh_loop(self) -> None:
        """The worker: refresh the scheduled devices and those soon due with them, for ever."""
        while True:
            with self._wake:
                while not self._due:
                    self._wake.wait()
                now = self.clock()
                self._due.update(
                    device_id
                    for device_id, (at, record) in self._entries.items()
                    if record is not None and now - at >= self.ttl / 2
                )
                due = [self._due.pop() for _ in range(min(len(self._due), REFRESH_BATCH))]
            try:
                self._load_many(due, now)
            except Exception:
                time.sleep(1.0)
