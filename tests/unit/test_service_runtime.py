from __future__ import annotations

import os
import signal
import threading

import pytest

from canopy.runtime import Service


class Recorder:
    def __init__(self, name: str, journal: list[str], fail_start: bool = False) -> None:
        self.name = name
        self.journal = journal
        self.fail_start = fail_start

    def start(self) -> None:
        if self.fail_start:
            raise RuntimeError("cannot start")
        self.journal.append(f"start {self.name}")

    def stop(self) -> None:
        self.journal.append(f"stop {self.name}")


def test_components_start_in_order_and_stop_in_reverse() -> None:
    journal: list[str] = []
    service = Service("s", [Recorder("a", journal), Recorder("b", journal)])
    service.start()
    service.stop()
    assert journal == ["start a", "start b", "stop b", "stop a"]


def test_a_failed_start_stops_what_already_started() -> None:
    journal: list[str] = []
    service = Service("s", [Recorder("a", journal), Recorder("b", journal, fail_start=True)])
    with pytest.raises(RuntimeError):
        service.start()
    assert journal == ["start a", "stop a"]


def test_sigterm_stops_run_gracefully() -> None:
    journal: list[str] = []
    service = Service("s", [Recorder("a", journal)])
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    service.run()
    assert journal == ["start a", "stop a"]
