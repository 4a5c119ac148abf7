"""The sandbox tree read from /proc children lists: every descendant, and a frozen one anywhere in it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from canopy.workloads import proctree


@pytest.fixture
def tree() -> Iterator[subprocess.Popen[bytes]]:
    """A shell with a sleeping child and a shell child that has a sleeping child, in a session of its own."""
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 60 & sh -c 'sleep 60 & wait' & wait"], start_new_session=True
    )
    deadline = time.monotonic() + 10
    while len(psutil.Process(shell.pid).children(recursive=True)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    yield shell
    os.killpg(shell.pid, signal.SIGKILL)
    shell.wait()


def test_descendants_are_those_psutil_finds_by_scanning_every_process(
    tree: subprocess.Popen[bytes],
) -> None:
    """The children lists give the same tree as psutil's scan of every process."""
    assert proctree.children_listed()
    scanned = {tree.pid, *(p.pid for p in psutil.Process(tree.pid).children(recursive=True))}
    assert set(proctree.descendants(tree.pid)) == scanned
    assert len(scanned) == 4


def test_a_stopped_grandchild_freezes_the_tree_and_a_continued_one_does_not(
    tree: subprocess.Popen[bytes],
) -> None:
    """SIGSTOP on the deepest process shows as frozen; SIGCONT clears it."""
    assert not proctree.any_frozen(tree.pid)
    deepest = max(psutil.Process(tree.pid).children(recursive=True), key=lambda p: len(p.parents()))
    deepest.send_signal(signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while proctree.state(deepest.pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proctree.any_frozen(tree.pid)
    deepest.send_signal(signal.SIGCONT)
    while proctree.state(deepest.pid) == "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not proctree.any_frozen(tree.pid)


def test_a_process_that_has_gone_has_no_state_and_only_itself_as_tree() -> None:
    """An exited (reaped) process: no state, and its tree is just the pid asked for."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert proctree.state(gone.pid) is None
    assert proctree.descendants(gone.pid) == [gone.pid]


def test_a_file_longer_than_one_read_is_read_whole(tmp_path: Path) -> None:
    """A children list of hundreds of processes spans several reads: none of it is lost."""
    listing = tmp_path / "children"
    listing.write_bytes(b" ".join(str(pid).encode() for pid in range(100_000, 103_000)))
    assert len(listing.read_bytes()) > 4 * proctree.READ_SIZE
    assert proctree._read(str(listing)) == listing.read_bytes()
