"""The health of a service process: each component, the store and the bus say whether they are alive."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import text

from canopy.blob import BlobStore
from canopy.runtime.component import Component
from canopy.store import Store

# A check returns None when its part is alive, else a short reason (never a credential or a URL).
Check = Callable[[], str | None]
BLOB_PROBE = "health/probe"
HEARTBEAT_PREFIX = "heartbeat:"  # the health check of a service's heartbeat is heartbeat:<service>


def store_problem(store: Store) -> str | None:
    """Whether the store answers a trivial query."""
    try:
        with store.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return None


def blob_problem(blob: BlobStore) -> str | None:
    """Whether the artifact store answers a lookup."""
    try:
        blob.exists(BLOB_PROBE)
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}"
    return None


def component_checks(components: Sequence[Component]) -> dict[str, Check]:
    """The `problem()` check of every component that has one, by component name (or its own `checks()`)."""
    checks: dict[str, Check] = {}
    for component in components:
        named = getattr(component, "checks", None)
        problem = getattr(component, "problem", None)
        if callable(named):
            checks.update(named())
        elif callable(problem):
            checks[component.name] = problem
    return checks


def health_report(checks: Mapping[str, Check]) -> dict[str, object]:
    """Run every check: status 'ok' when all pass, else 'failing' with the failing names."""
    components: dict[str, str] = {}
    for name, check in checks.items():
        try:
            problem = check()
        except Exception as exc:
            problem = f"health check raised {type(exc).__name__}"
        components[name] = problem or "ok"
    failing = sorted(name for name, state in components.items() if state != "ok")
    return {"status": "failing" if failing else "ok", "failing": failing, "components": components}


def process_health(store: Store, checks: Mapping[str, Check]) -> dict[str, object]:
    """The health report of a process: its store and the given component checks."""
    return health_report({"store": lambda: store_problem(store), **checks})
