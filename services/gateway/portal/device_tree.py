"""The locations tree of the devices page: one page of devices grouped under their location paths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class DeviceLine:
    """A device as the tree lists it."""

    id: str
    type: str
    kind: str
    status: str
    last_seen: datetime | None


@dataclass
class LocationNode:
    """A location of the tree: its last path segment, its count of matching devices, what sits under it."""

    path: str
    name: str
    count: int
    devices: list[DeviceLine] = field(default_factory=list)
    children: list[LocationNode] = field(default_factory=list)


def location_tree(placed: Sequence[tuple[str, DeviceLine]], counts: Mapping[str, int]) -> list[LocationNode]:
    """The top-level locations of (location path, device) pairs, each path's ancestors included."""
    nodes: dict[str, LocationNode] = {}
    roots: list[LocationNode] = []

    def node(path: str) -> LocationNode:
        found = nodes.get(path)
        if found is not None:
            return found
        parent, _, name = path.rpartition("/")
        found = nodes[path] = LocationNode(path, name, counts.get(path, 0))
        (node(parent).children if parent else roots).append(found)
        return found

    for path, device in sorted(placed, key=lambda pair: (pair[0], pair[1].id)):
        node(path).devices.append(device)
    return roots
