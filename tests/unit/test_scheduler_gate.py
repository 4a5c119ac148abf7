"""The scheduler's SQLite gate: sessions take turns, none opens while a thread is urgent, it goes first."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from canopy.store import Store
from canopy.store.engine import build_engine
from services.scheduler.gate import GatedStore

PAUSE = 0.3


def gate(tmp_path: Path) -> GatedStore:
    return GatedStore(Store(build_engine(make_url(f"sqlite:///{tmp_path}/gate.db"))))


def in_session(store: GatedStore, log: list[str], name: str, hold: float = 0.0) -> threading.Thread:
    """A thread that opens a session, logs its name, holds it `hold` seconds."""

    def work() -> None:
        with store.session() as session:
            session.execute(text("SELECT 1"))
            log.append(name)
            time.sleep(hold)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_while_a_thread_is_urgent_others_open_no_session_but_one_inside_carries_on(tmp_path: Path) -> None:
    store, log = gate(tmp_path), []
    inside = threading.Event()
    release = threading.Event()

    def worker_inside() -> None:
        with store.session():
            inside.set()
            assert release.wait(5)
            with store.session():  # nested: shares its turn
                log.append("nested")

    first = threading.Thread(target=worker_inside)
    first.start()
    assert inside.wait(5)
    with store.urgent():
        late = in_session(store, log, "worker")
        release.set()
        first.join(5)
        with store.session():
            log.append("urgent")
        time.sleep(PAUSE)
        assert log == ["nested", "urgent"]
    late.join(5)
    assert log == ["nested", "urgent", "worker"]
    store.engine.dispose()


def test_on_sqlite_sessions_take_turns_and_the_urgent_thread_goes_first(tmp_path: Path) -> None:
    store, log = gate(tmp_path), []
    holder = in_session(store, log, "holder", PAUSE)
    time.sleep(PAUSE / 3)
    waiting = in_session(store, log, "worker")
    time.sleep(PAUSE / 3)
    with store.urgent(), store.session():
        log.append("urgent")
    holder.join(5)
    waiting.join(5)
    assert log == ["holder", "urgent", "worker"]
    store.engine.dispose()
