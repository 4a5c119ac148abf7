from __future__ import annotations

import pytest

from canopy.config import SETTINGS, describe_settings, load_config
from canopy.errors import ConfigError


def test_defaults_live_under_home() -> None:
    config = load_config({"CANOPY_HOME": "/tmp/canopy-x"})
    assert config.bus_url == "sqlite:////tmp/canopy-x/bus.db"
    assert config.db_url == "sqlite:////tmp/canopy-x/canopy.db"
    assert config.blob_url == "file:///tmp/canopy-x/blobs"
    assert config.api_port == 8080


def test_invalid_choice_names_key_and_accepted_values() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"CANOPY_LOG_LEVEL": "LOUD"})
    assert "CANOPY_LOG_LEVEL='LOUD'" in caught.value.message
    assert "DEBUG, INFO, WARNING, ERROR" in caught.value.message


def test_invalid_number_names_key() -> None:
    with pytest.raises(ConfigError, match=r"CANOPY_API_PORT='99999'.*0-65535"):
        load_config({"CANOPY_API_PORT": "99999"})
    with pytest.raises(ConfigError, match="CANOPY_BUS_PARTITIONS"):
        load_config({"CANOPY_BUS_PARTITIONS": "zero"})


def test_url_without_scheme_is_refused() -> None:
    with pytest.raises(ConfigError, match="CANOPY_BUS_URL"):
        load_config({"CANOPY_BUS_URL": "localhost:9092"})


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(ConfigError, match="Did you mean CANOPY_BUS_URL"):
        load_config({"CANOPY_BUS_ULR": "kafka://x:1"})


def test_every_setting_is_documented_once() -> None:
    keys = [s.key for s in SETTINGS]
    assert len(keys) == len(set(keys))
    assert all(row["doc"] for row in describe_settings())
