"""The docker warm pool's pure parts: per-image bookkeeping, a pool container's host slot and its record.

A node on the docker runtime keeps at most one ready, unassigned container per dependencies image: a
model server that has imported the image's framework and waits for a package. Its slot is a host folder
made for it alone: `model/` (bound read-only at the model folder, empty until the handover), `handover/`
(bound read-only; the file naming the model appears there last, by rename) and `record.json` (never
bound: the workload facts its immutable labels cannot hold once it is handed over).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Generic, TypeVar

from canopy.contracts.deploy import WorkloadSpec

POOL_LABEL = "canopy.pool"  # on a pool container: the pool key (image and SDK) it was started for
SLOT_LABEL = "canopy.slot"  # on a pool container: its slot folder, as the agent sees it
HANDED_OVER = "canopy.handed_over"  # in a taken pool container's record: when it was handed over (epoch s)
HANDOVER_DIR = "/opt/handover"  # where the slot's handover folder is bound read-only
HANDOVER_FILE = "handover.json"
POOL_IMAGES = 4  # images a node keeps a pool container for (the least recently used is dropped)

Pooled = TypeVar("Pooled")


def pool_key(spec: WorkloadSpec) -> str:
    """What a pool container can stand in for: the image it runs and the SDK folder it binds."""
    return f"{spec.image}|{spec.sdk_dir}"


def pool_command(python: str, package: str, host: str, port: int) -> list[str]:
    """The pooled model server's command: preload, wait for the handover file, then serve `package`."""
    server = [python, "-m", "platform_sdk.serving", "--package", package, "--host", host, "--port", str(port)]
    return [*server, "--handover", f"{HANDOVER_DIR}/{HANDOVER_FILE}"]


def _link_or_copy(source: str, target: str) -> None:
    """Hard-link a package file into the slot (no bytes copied), or copy it across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class Slot:
    """A pool container's host folder: the package it is handed, the handover file, the workload record."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.package = root / "model"
        self.handover = root / "handover"
        self.record = root / "record.json"

    @classmethod
    def create(cls, root: Path) -> Slot:
        """A new, empty slot that the workload's uid can read."""
        slot = cls(root)
        for folder in (slot.root, slot.package, slot.handover):
            folder.mkdir(parents=folder is slot.root)
            folder.chmod(0o755)
        return slot

    def fill(self, package_dir: Path) -> None:
        """Put the package's files in the slot's (empty) model folder."""
        shutil.copytree(package_dir, self.package, copy_function=_link_or_copy, dirs_exist_ok=True)

    def write_record(self, facts: Mapping[str, str]) -> None:
        """Keep the facts of the workload the container now serves (written whole, by rename)."""
        partial = self.root / "record.partial"
        partial.write_text(json.dumps(dict(facts)))
        partial.replace(self.record)

    def facts(self) -> dict[str, str]:
        """The recorded workload facts; none before the handover (or once the slot is gone)."""
        try:
            data = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return {}
        return {str(key): str(value) for key, value in data.items()} if isinstance(data, dict) else {}

    def hand_over(self, model_id: str) -> None:
        """Tell the waiting server its package is in place (the file appears whole, by rename)."""
        partial = self.root / "handover.partial"
        partial.write_text(json.dumps({"model_id": model_id}))
        partial.chmod(0o644)
        partial.replace(self.handover / HANDOVER_FILE)

    def remove(self) -> None:
        """Delete the slot and everything in it."""
        shutil.rmtree(self.root, ignore_errors=True)


def container_facts(labels: Mapping[str, str]) -> dict[str, str]:
    """A container's labels, with its slot's workload record over them when it came from the pool."""
    slot = labels.get(SLOT_LABEL)
    return {**labels, **(Slot(Path(slot)).facts() if slot else {})}


class WarmPool(Generic[Pooled]):
    """At most one unassigned container per pool key, for at most `images` keys; each is taken once."""

    def __init__(self, images: int = POOL_IMAGES) -> None:
        self.images = images
        self._kept: OrderedDict[str, Pooled] = OrderedDict()
        self._lock = threading.Lock()

    def has(self, key: str) -> bool:
        """Whether a container is kept for the key."""
        with self._lock:
            return key in self._kept

    def keep(self, key: str, pooled: Pooled) -> list[Pooled]:
        """Keep a new container; those it displaces (the key's previous one, the least recently used)."""
        with self._lock:
            displaced = [self._kept.pop(key)] if key in self._kept else []
            self._kept[key] = pooled
            while len(self._kept) > self.images:
                displaced.append(self._kept.popitem(last=False)[1])
        return displaced

    def take(self, key: str) -> Pooled | None:
        """The key's container, no longer kept: it now belongs to the workload that took it."""
        with self._lock:
            return self._kept.pop(key, None)

    def kept(self) -> list[Pooled]:
        """Every container kept."""
        with self._lock:
            return list(self._kept.values())

    def clear(self) -> list[Pooled]:
        """Every container kept, no longer kept."""
        with self._lock:
            kept, self._kept = list(self._kept.values()), OrderedDict()
        return kept
