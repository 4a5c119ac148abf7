"""The Mailpit component: loopback-only flags, the build's errors, its place among the components."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.infra.base import InfraError, InfraPaths
from bootstrap.infra.mailpit import Mailpit, mailpit_args, mailpit_version
from bootstrap.infra.manager import NAMES, resolve


def test_it_listens_on_loopback_only_with_its_data_in_the_cache(tmp_path: Path) -> None:
    args = mailpit_args(tmp_path / "mailpit.db")
    flags = dict(zip(args[::2], args[1::2], strict=False))
    assert flags["--smtp"] == "127.0.0.1:1025" and flags["--listen"] == "127.0.0.1:8025"
    assert flags["--database"] == str(tmp_path / "mailpit.db")
    assert "--disable-version-check" in args and "--smtp-disable-rdns" in args  # no look-ups on the network


def test_it_is_one_of_the_components_started_by_default() -> None:
    assert "mailpit" in NAMES and "mailpit" in resolve(None)
    assert resolve(["Mailpit", "kafka"]) == ["kafka", "mailpit"]


def test_building_without_go_or_with_a_failing_go_names_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    component = Mailpit(InfraPaths(tmp_path / "infra"))
    assert mailpit_version(component.binary) == ""
    monkeypatch.setattr("bootstrap.infra.mailpit.find_go", lambda: None)
    with pytest.raises(InfraError, match=r"Go is needed to build Mailpit v1\.33\.1 and `go` is not on PATH"):
        component.prepare()
    monkeypatch.setattr("bootstrap.infra.mailpit.find_go", lambda: "/bin/false")
    with pytest.raises(
        InfraError, match=r"`/bin/false install .* github\.com/axllent/mailpit@v1\.33\.1` failed"
    ):
        component.prepare()
    assert not component.binary.exists()
