"""The image catalog, build commands, the .env of the stack and its broker files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from bootstrap.images import contexts
from bootstrap.images.build import build_command
from bootstrap.images.catalog import IMAGES, select
from bootstrap.images.compose_env import PORTS, write_env
from bootstrap.images.stack import write_mosquitto_files


def test_every_image_has_its_dockerfile_with_a_healthcheck_and_a_user() -> None:
    for spec in IMAGES:
        text = spec.dockerfile.read_text()
        if spec.name in {"debian", "python-runtime"}:
            continue  # bases, never run as services
        assert "HEALTHCHECK" in text, spec.name
        assert "\nUSER " in text, spec.name


def test_bases_are_built_before_the_images_that_use_them() -> None:
    order = [spec.name for spec in IMAGES]
    for spec in IMAGES:
        for base in ("debian", "python-runtime"):
            if f"FROM canopy/{base}:" in spec.dockerfile.read_text():
                assert order.index(base) < order.index(spec.name), spec.name


def test_select_keeps_build_order_and_names_unknown_images() -> None:
    assert [spec.name for spec in select(["prometheus", "kafka"])] == ["kafka", "prometheus"]
    assert len(select([])) == len(IMAGES)
    with pytest.raises(ValueError, match="unknown image nope; known: debian"):
        select(["nope"])


def test_build_command_tags_the_commit_and_latest(tmp_path: Path) -> None:
    command = build_command(select(["kafka"])[0], tmp_path, "abc1234")
    assert command[:2] == ["docker", "build"]
    assert command[2:6] == ["-t", "canopy/kafka:abc1234", "-t", "canopy/kafka:latest"]
    assert command[-1] == str(tmp_path)


def test_link_tree_replaces_the_target_with_the_source(tmp_path: Path) -> None:
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "a.jar").write_text("new")
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "stale.jar").write_text("old")
    contexts.link_tree(tmp_path / "src", tmp_path / "dst")
    assert sorted(p.name for p in (tmp_path / "dst").rglob("*")) == ["a.jar", "sub"]


def test_broker_files_hold_the_env_account_no_anonymous_and_are_private(tmp_path: Path) -> None:
    write_mosquitto_files(tmp_path, 21883, "canopy-platform", "s3cret-from-env")
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert "listener 21883 127.0.0.1" in conf and "allow_anonymous false" in conf
    assert "plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so" in conf
    assert "plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json" in conf
    dynsec = json.loads((tmp_path / "dynamic-security.json").read_text())
    assert [c["username"] for c in dynsec["clients"]] == ["canopy-platform"]
    assert "s3cret-from-env" in (tmp_path / "platform.env").read_text()
    for name in ("platform.env", "dynamic-security.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_compose_env_is_random_private_kept_and_clear_of_the_shared_ports(tmp_path: Path) -> None:
    first = write_env(tmp_path / ".env")
    second = write_env(tmp_path / "other.env")
    assert first["ADMIN_PASSWORD"] != second["ADMIN_PASSWORD"]
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    shared = {9092, 9093, 5432, 10000, 1883, 1025, 8025, 8080, 9090}
    ports = {int(first[name]) for name in PORTS}
    assert len(ports) == len(PORTS) and not ports & shared
    (tmp_path / ".env").write_text((tmp_path / ".env").read_text().replace(first["GATEWAY_PORT"], "38080"))
    kept = write_env(tmp_path / ".env")
    assert kept["GATEWAY_PORT"] == "38080" and kept["ADMIN_PASSWORD"] == first["ADMIN_PASSWORD"]
    assert write_env(tmp_path / "moved.env", port_base=40000)["GATEWAY_PORT"] == "40080"
