"""Wake-ups for SQLite bus consumers in any process: writers touch a file per topic, consumers watch them.

After each commit a bus touches `<bus file>.bells/t.<topic>` for every topic it wrote; a group whose
members or claims changed gets `g.<digest of the group>`, and a new topic `n.topics`. Each bus holds one
inotify watch on that folder and wakes the consumers the touched name concerns, so an idle consumer
sleeps instead of polling. Without inotify (not Linux) consumers fall back to short timed polls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import select
import struct
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from canopy.bus._rules import subscribes
from canopy.private import PRIVATE_FILE, make_private_dir

log = logging.getLogger(__name__)

NEW_TOPIC = "n.topics"
MAX_TOPICS_REMEMBERED = 10_000  # a waiter's memory of which topic bells concern it
_IN_MODIFY, _IN_ATTRIB, _IN_CREATE, _IN_Q_OVERFLOW = 0x2, 0x4, 0x100, 0x4000
_IN_NONBLOCK, _IN_CLOEXEC = 0o4000, 0o2000000
_EVENT = struct.Struct("iIII")


def bells_dir(bus_path: Path) -> Path:
    """The folder of a bus file's bells."""
    return bus_path.with_name(bus_path.name + ".bells")


def topic_bell(topic: str) -> str:
    """The bell rung when messages of `topic` are committed."""
    return f"t.{topic}"


def group_bell(group: str) -> str:
    """The bell rung when the members or partition claims of `group` change."""
    return "g." + hashlib.sha256(group.encode()).hexdigest()[:16]


def ring(directory: Path, names: Iterable[str]) -> None:
    """Touch each bell (creating it the first time); inotify tells every watching process."""
    for name in names:
        bell = directory / name
        try:
            os.utime(bell)
        except FileNotFoundError:
            bell.touch(mode=PRIVATE_FILE)
        except OSError as exc:
            log.warning("could not ring %s (consumers notice within their sync interval): %s", bell, exc)


class Waiter:
    """One consumer's wake-up: set when a bell of its topics or group rings; `resync` for group changes."""

    def __init__(self, topics: Sequence[str], group: str) -> None:
        self.topics = list(topics)
        self.group = group_bell(group)
        self.event = threading.Event()
        self.resync = False
        self._topics_heard: dict[str, bool] = {}  # topic -> subscribed, as bells of the same topics repeat
        self._news: set[str] | None = set()  # topics rung since the consumer last looked; None: unknown
        self._news_lock = threading.Lock()

    def note(self, names: set[str] | None) -> bool:
        """Record which of the bells `names` (None: unknown, every one) concern this consumer; whether any."""
        topics: set[str] | None = None
        if names is not None:
            heard = [name for name in names if self.hears(name)]
            if not heard:
                return False
            topics = {name[2:] for name in heard if name.startswith("t.")}
        with self._news_lock:
            self._news = None if topics is None or self._news is None else self._news | topics
        return True

    def take_news(self) -> set[str] | None:
        """The topics rung since the last call (None when unknown: then every topic may have news)."""
        with self._news_lock:
            news, self._news = self._news, set()
        return news

    def hears(self, name: str) -> bool:
        """Whether the bell `name` concerns this consumer (marking a resync for group and topic changes)."""
        if name == self.group or name == NEW_TOPIC:
            self.resync = True
            return True
        if not name.startswith("t."):
            return False
        heard = self._topics_heard.get(name)
        if heard is None:
            if len(self._topics_heard) >= MAX_TOPICS_REMEMBERED:
                self._topics_heard.clear()
            heard = self._topics_heard[name] = subscribes(self.topics, name[2:])
        return heard


class BellListener:
    """Watches a bus's bells folder on one thread and sets the events of the waiters a bell concerns."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        make_private_dir(directory)
        self._waiters: set[Waiter] = set()
        self._guard = threading.Lock()
        self._fd = _watch(directory)
        self._wake_read, self._wake_write = os.pipe()
        self._thread: threading.Thread | None = None
        if self._fd >= 0:
            self._thread = threading.Thread(target=self._run, name="canopy-bus-bells", daemon=True)
            self._thread.start()

    @property
    def available(self) -> bool:
        """Whether bells wake consumers (inotify works here); otherwise they poll."""
        return self._thread is not None

    def register(self, topics: Sequence[str], group: str) -> Waiter:
        """A waiter for a consumer of `topics` in `group`."""
        waiter = Waiter(topics, group)
        with self._guard:
            self._waiters.add(waiter)
        return waiter

    def unregister(self, waiter: Waiter) -> None:
        """Stop waking a closed consumer."""
        with self._guard:
            self._waiters.discard(waiter)

    def close(self) -> None:
        """Stop the watching thread and release the descriptors."""
        os.write(self._wake_write, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._fd, self._wake_read, self._wake_write):
            if fd >= 0:
                os.close(fd)

    def _run(self) -> None:
        """Read inotify events until closed; an overflowed queue wakes every waiter."""
        while True:
            readable, _, _ = select.select([self._fd, self._wake_read], [], [])
            if self._wake_read in readable:
                return
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            self._wake(_names(data))

    def _wake(self, names: set[str] | None) -> None:
        """Set the events of the waiters concerned by `names` (all of them when None)."""
        with self._guard:
            waiters = list(self._waiters)
        for waiter in waiters:
            if waiter.note(names):
                waiter.event.set()


def _names(data: bytes) -> set[str] | None:
    """The file names in a buffer of inotify events, or None when the kernel's queue overflowed."""
    names, position = set(), 0
    while position + _EVENT.size <= len(data):
        _wd, mask, _cookie, length = _EVENT.unpack_from(data, position)
        if mask & _IN_Q_OVERFLOW:
            return None
        start = position + _EVENT.size
        names.add(data[start : start + length].rstrip(b"\0").decode(errors="replace"))
        position = start + length
    return names


def _watch(directory: Path) -> int:
    """An inotify descriptor watching `directory` for touched files, or -1 where inotify is missing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = int(libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
    except (OSError, AttributeError):
        return -1
    if fd < 0:
        log.warning("no inotify here (%s): SQLite bus consumers poll", os.strerror(ctypes.get_errno()))
        return -1
    mask = _IN_MODIFY | _IN_ATTRIB | _IN_CREATE
    if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
        reason = os.strerror(ctypes.get_errno())
        log.warning("cannot watch %s (%s): SQLite bus consumers poll", directory, reason)
        os.close(fd)
        return -1
    return fd
