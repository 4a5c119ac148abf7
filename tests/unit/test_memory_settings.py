"""Memory bounds of long-running platform processes: malloc arenas and SQLite page caches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from canopy.bus._sqlite_schema import PAGE_CACHE_KIB, connect
from canopy.runtime.memory import limit_malloc_arenas
from canopy.store import open_store
from canopy.store.engine import SQLITE_PAGE_CACHE_KIB

# Twelve threads each allocating through malloc: with the cap the process keeps far fewer arenas.
COUNT_ARENAS = """
import ctypes, sys, threading
from canopy.runtime.memory import limit_malloc_arenas
if sys.argv[1] == "capped":
    limit_malloc_arenas(2)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
barrier = threading.Barrier(12)
def allocate():
    barrier.wait()
    for _ in range(200):
        libc.malloc(4096)
threads = [threading.Thread(target=allocate) for _ in range(12)]
for t in threads: t.start()
for t in threads: t.join()
anonymous = [line for line in open("/proc/self/maps") if " rw-p " in line and line.split()[4] == "0"]
print(len(anonymous))
"""


def _mappings(mode: str) -> int:
    """Anonymous writable mappings (each arena is one or two) after the threads allocated."""
    out = subprocess.run(
        [sys.executable, "-c", COUNT_ARENAS, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_the_cap_is_applied_on_glibc() -> None:
    assert limit_malloc_arenas() is True


def test_capped_threads_share_arenas() -> None:
    assert _mappings("capped") < _mappings("free")


def test_sqlite_connections_keep_a_bounded_page_cache(tmp_path: Path) -> None:
    bus = connect(tmp_path / "bus.db")
    try:
        assert bus.execute("PRAGMA cache_size").fetchone()[0] == -PAGE_CACHE_KIB
    finally:
        bus.close()
    store = open_store(f"sqlite:///{tmp_path / 'canopy.db'}")
    try:
        with store.engine.connect() as connection:
            size = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        assert size == -SQLITE_PAGE_CACHE_KIB
    finally:
        store.close()
