"""Device instances: location paths, the device spec, the original instance files, credentials, status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canopy.devices import (
    ONLINE_WINDOW,
    LocationSpec,
    credential_digest,
    credential_matches,
    device_from_legacy,
    device_status,
    is_within,
    normalise_path,
    parse_device,
)
from canopy.devices.instances import new_credential
from canopy.errors import ValidationFailed
from tests.fixtures.device_packages.corpus import LEGACY_INSTANCES, TEMP_INSTANCE


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("HYD/RANDOM", "hyd/random"),
        ("  Hyderabad / Main Street / Lab_1 ", "hyderabad/main-street/lab-1"),
        ("/hyd//x/", "hyd/x"),
        ("São Paulo/Av. Paulista", "sao-paulo/av-paulista"),
    ],
)
def test_location_paths_are_normalised(raw: str, path: str) -> None:
    assert normalise_path(raw) == path


@pytest.mark.parametrize("raw", ["", "///", "!!/--", "/".join("a" * 9), "x" * 65, "/".join(["y" * 60] * 5)])
def test_bad_location_paths_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_path(raw)


def test_within_means_the_location_or_below_it() -> None:
    assert is_within("hyd/random", "hyd") and is_within("hyd", "hyd")
    assert not is_within("hyderabad", "hyd") and not is_within("hyd", "hyd/random")


def test_location_spec_takes_text_or_an_object_with_both_coordinates() -> None:
    assert LocationSpec.model_validate("HYD/Lab") == LocationSpec(path="hyd/lab")
    spec = LocationSpec.model_validate({"path": "hyd", "latitude": 17.4, "longitude": 78.5})
    assert (spec.latitude, spec.longitude) == (17.4, 78.5)
    for bad in ({"path": "hyd", "latitude": 17.4}, {"path": "hyd", "latitude": 91, "longitude": 0}):
        with pytest.raises(ValueError):
            LocationSpec.model_validate(bad)


def test_a_device_spec_gets_an_id_from_its_type() -> None:
    spec = parse_device({"type": "TEMP", "location": "hyd/random"})
    assert spec.transport == "kafka" and spec.id is None
    first, second = spec.with_id(), spec.with_id()
    assert first.id and first.id.startswith("temp-") and first.id != second.id
    named = parse_device({"id": "lab-temp-1", "type": "TEMP", "location": "hyd", "transport": "mqtt"})
    assert named.with_id().id == "lab-temp-1"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"location": "hyd"}, "type"),
        ({"type": "TEMP"}, "location"),
        ({"type": "TEMP", "location": "///"}, "location.path"),
        ({"type": "TEMP", "location": "hyd", "transport": "coap"}, "transport"),
        ({"type": "TEMP", "location": "hyd", "id": "Upper Case"}, "id"),
        ({"type": "TEMP", "location": "hyd", "labels": {"k": 1}}, "labels.k"),
        ({"type": "TEMP", "location": "hyd", "labels": {str(i): "v" for i in range(40)}}, "labels"),
        ({"type": "TEMP", "location": "hyd", "owner": "me"}, "owner"),
    ],
)
def test_bad_device_specs_name_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_device(document)
    assert field in caught.value.details, caught.value.details


def test_original_instance_files_map_to_devices() -> None:
    temp = device_from_legacy(TEMP_INSTANCE)
    assert temp.id == "temp-127-0-0-1-7001" and temp.type == "TEMP"
    assert temp.location.path == "hyd/random"
    assert temp.labels == {"ip": "127.0.0.1", "port": "7001"}
    image = device_from_legacy(json.loads(LEGACY_INSTANCES["sensors/3.json"]))
    assert image.labels["data_source"] == "celebrity" and image.location.path == "hyd/gachibowli"
    numeric_port = device_from_legacy({**TEMP_INSTANCE, "ip_loc": {"ip": "10.0.0.5", "port": 9001}})
    assert numeric_port.id == "temp-10-0-0-5-9001"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": None}, "type"),
        ({"ip_loc": {"ip": "127.0.0.1"}}, "ip_loc.port"),
        ({"geo_location": {"city": "HYD"}}, "geo_location.street"),
        ({"geo_location": {"city": "!", "street": "?"}}, "geo_location"),
        ({"type": "not a type!"}, "type"),
    ],
)
def test_bad_original_instance_files_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        device_from_legacy({**TEMP_INSTANCE, **change})
    assert field in caught.value.details, caught.value.details


def test_credentials_are_random_and_only_their_digest_is_kept() -> None:
    secret, digest = new_credential()
    other, _ = new_credential()
    assert secret.startswith("cnd_") and secret != other
    assert digest == credential_digest(secret) and secret not in digest
    assert credential_matches(digest, secret) and not credential_matches(digest, other)


def test_status_is_online_within_the_window() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert device_status(None, now) == "offline"
    assert device_status(now - ONLINE_WINDOW, now) == "online"
    assert device_status(now - ONLINE_WINDOW - timedelta(seconds=1), now) == "offline"
