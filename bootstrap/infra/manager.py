"""Bring components up, take the ones canopy started down, and report their status."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bootstrap.infra.azurite import Azurite
from bootstrap.infra.base import (
    Component,
    ComponentStatus,
    InfraError,
    InfraPaths,
    Ownership,
    clear_ownership,
    load_ownership,
    say,
)
from bootstrap.infra.dockerd import Docker
from bootstrap.infra.ferretdb import FerretDB
from bootstrap.infra.kafka import Kafka
from bootstrap.infra.mailpit import Mailpit
from bootstrap.infra.mosquitto import Mosquitto
from bootstrap.infra.packages import SANDBOX_BINARIES, ensure_binaries
from bootstrap.infra.postgres import Postgres
from bootstrap.infra.process import wait_until

COMPONENTS: tuple[type[Component], ...] = (Kafka, Postgres, Azurite, Mosquitto, Docker, Mailpit, FerretDB)
NAMES: tuple[str, ...] = tuple(kind.name for kind in COMPONENTS)


def resolve(names: Sequence[str] | None) -> list[str]:
    """The requested component names in start order (all of them when none are given)."""
    if not names:
        return list(NAMES)
    wanted = {name.strip().lower() for name in names}
    unknown = sorted(wanted - set(NAMES))
    if unknown:
        raise InfraError(f"unknown component(s): {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    return [name for name in NAMES if name in wanted]


def build(paths: InfraPaths, names: Sequence[str]) -> list[Component]:
    """Component objects for the given names."""
    by_name = {kind.name: kind for kind in COMPONENTS}
    return [by_name[name](paths) for name in names]


@contextmanager
def locked(paths: InfraPaths) -> Iterator[None]:
    """Hold the infra lock so that concurrent up/down commands take turns."""
    with paths.lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("infra: waiting for another canopy infra command to finish...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def owned(paths: InfraPaths, name: str) -> Ownership | None:
    """The live ownership record of a component, dropping a stale one."""
    record = load_ownership(paths, name)
    if record is not None and not record.alive():
        clear_ownership(paths, name)
        return None
    return record


def up(names: Sequence[str] | None = None, paths: InfraPaths | None = None) -> None:
    """Install what is missing and start the components, returning once each accepts requests."""
    paths = paths or InfraPaths.default()
    components = build(paths, resolve(names))
    with locked(paths):
        needed: dict[str, str] = dict(SANDBOX_BINARIES)  # the tests and `canopy up` sandbox workloads
        for component in components:
            if not component.answers(1.0):
                needed.update(component.binaries())
        ensure_binaries(needed, paths.log("system"))
        for component in components:
            _up_one(paths, component)


def _up_one(paths: InfraPaths, component: Component) -> None:
    started = time.monotonic()
    if not component.serves:
        _build_one(component)
        return
    name, address = component.name, component.address
    record = owned(paths, name)
    if component.answers():
        component.ensure()
        how = "started by canopy" if record else "not started by canopy, left alone"
        say(f"{name}: already up on {address} ({how})")
        return
    if record is None:
        if component.occupied():
            raise component.failure(
                f"{address} is in use by something canopy did not start that does not answer as {name}"
            )
        component.prepare()
        say(f"{name}: starting...")
        record = component.start()
    else:
        say(f"{name}: waiting for the instance canopy started (pid {record.pid})...")
    outcome = wait_until(component.answers, component.start_timeout, alive=record.alive)
    if outcome != "ok":
        if record.alive():
            component.stop(record)
        clear_ownership(paths, name)
        problem = (
            "exited during start-up"
            if outcome == "died"
            else f"did not answer on {address} within {component.start_timeout:.0f} s"
        )
        raise component.failure(problem)
    component.ensure()
    say(f"{name}: up on {address} ({time.monotonic() - started:.1f} s)")


def _build_one(component: Component) -> None:
    """Build a binary component unless it is there and works, then run its set-up."""
    if component.answers():
        component.ensure()
        say(f"{component.name}: already built at {component.address}")
        return
    component.prepare()
    if not component.answers():
        raise component.failure(f"{component.address} was built but does not run")
    component.ensure()
    say(f"{component.name}: built at {component.address}")


def down(names: Sequence[str] | None = None, paths: InfraPaths | None = None) -> None:
    """Stop the components canopy started (in reverse start order); others are left running."""
    paths = paths or InfraPaths.default()
    components = build(paths, resolve(names))
    with locked(paths):
        for component in reversed(components):
            _down_one(paths, component)


def _down_one(paths: InfraPaths, component: Component) -> None:
    started = time.monotonic()
    name = component.name
    if not component.serves:
        say(f"{name}: nothing to stop (the node agents run it per app instance)")
        return
    record = owned(paths, name)
    if record is None:
        if component.answers(1.0):
            say(f"{name}: not started by canopy, leaving it running on {component.address}")
        else:
            say(f"{name}: not running")
        return
    say(f"{name}: stopping (pid {record.pid})...")
    component.stop(record)
    if record.alive():
        raise component.failure(f"pid {record.pid} is still running after stop")
    clear_ownership(paths, name)
    wait_until(lambda: not component.occupied(), 15)
    say(f"{name}: stopped ({time.monotonic() - started:.1f} s)")


def status(paths: InfraPaths | None = None) -> list[ComponentStatus]:
    """Whether each component answers, where, and whether canopy started it."""
    paths = paths or InfraPaths.default()
    rows = []
    for component in build(paths, NAMES):
        record = owned(paths, component.name)
        up = component.answers(2.0)
        rows.append(
            ComponentStatus(
                component.name,
                up,
                component.address,
                record is not None or (up and not component.serves),
                component.serves,
            )
        )
    return rows


def format_status(rows: Sequence[ComponentStatus]) -> str:
    """The status table printed by `canopy infra status`."""
    lines = []
    for row in rows:
        state = "up" if row.up else "down"
        note = "(started by canopy)" if row.started_by_canopy else ""
        if not row.serves:
            note = "(built by canopy)" if row.up else "(not built: canopy infra up " + row.name + ")"
        elif row.up and not row.started_by_canopy:
            note = "(not started by canopy)"
        lines.append(f"{row.name:<10} {state:<5} {row.address:<28} {note}".rstrip())
    return "\n".join(lines)
