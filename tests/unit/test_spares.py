"""Warm spares: one per key, taken once, ended on drop, after the grace on expire, and on close."""

from __future__ import annotations

import time

from canopy.workloads.spares import Spares


class Started:
    """A stand-in for a started sandbox."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.running = True


def _spares(ended: list[str], grace: float = 30.0) -> Spares[Started]:
    def terminate(spare: Started) -> None:
        spare.running = False
        ended.append(spare.name)

    return Spares(lambda spare: spare.running, terminate, grace)


def test_a_spare_is_taken_once_and_a_second_one_for_the_key_ends_the_first() -> None:
    ended: list[str] = []
    spares = _spares(ended)
    spares.keep("iris", Started("one"))
    spares.keep("iris", Started("two"))
    assert ended == ["one"] and spares.has("iris")
    taken = spares.take("iris")
    assert taken is not None and taken.name == "two" and taken.running
    assert spares.take("iris") is None and not spares.has("iris")


def test_a_spare_that_died_is_not_handed_over() -> None:
    ended: list[str] = []
    spares = _spares(ended)
    dead = Started("dead")
    spares.keep("iris", dead)
    dead.running = False
    assert not spares.has("iris")
    assert spares.take("iris") is None and ended == ["dead"]


def test_drop_ends_at_once_and_expire_after_the_grace_unless_taken() -> None:
    ended: list[str] = []
    spares = _spares(ended, grace=0.2)
    spares.keep("a", Started("a"))
    spares.drop("a")
    assert ended == ["a"]
    spares.keep("b", Started("b"))
    spares.keep("c", Started("c"))
    spares.expire("b")
    spares.expire("c")
    assert spares.take("c") is not None  # a replacement took it within the grace: not ended
    time.sleep(0.5)
    assert ended == ["a", "b"] and not spares.has("b")


def test_close_ends_every_spare() -> None:
    ended: list[str] = []
    spares = _spares(ended)
    spares.keep("a", Started("a"))
    spares.keep("b", Started("b"))
    spares.close()
    assert sorted(ended) == ["a", "b"] and spares.started() == []
