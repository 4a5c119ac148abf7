"""The gateway's per-request reads (credentials, model calls, latest values) on SQLite and PostgreSQL.

They are Core queries, not ORM loads; nothing is cached between requests, so a re-issued or revoked
credential and a disabled or removed user fail on the very next request.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from canopy.apps.credentials import issue_instance_token, revoke_instance_token
from canopy.apps.records import AppInstance, AppRecord
from canopy.contracts.devices import TelemetryReading
from canopy.deployments.records import live_endpoints
from canopy.deployments.tables import Replica
from canopy.devices.models import Device, DeviceType, Location
from canopy.errors import NotFound, Unauthorized
from canopy.models.records import ModelRecord
from canopy.models.repository import resolve_model_id
from canopy.roles import Role
from canopy.store import ApiToken, Store, User
from canopy.telemetry.storage import LatestWriter, StoredReading, device_latest, latest, refusals
from services.gateway.accounts import LAST_USED_RESOLUTION, Principal, issue_token, resolve_token

OUTDATED = "invalid or outdated app-instance credential; it changes at every start of the instance"


def _user(store: Store, name: str) -> int:
    with store.session() as session:
        user = User(name=name, role=Role.END_USER.value, password_hash="argon2$hash")
        session.add(user)
        session.flush()
        return user.id


def _set_disabled(store: Store, user_id: int, disabled: bool) -> None:
    with store.session() as session:
        session.get_one(User, user_id).disabled = disabled


def _resolve(store: Store, presented: str) -> Principal:
    with store.session() as session:
        return resolve_token(session, presented)


def _refusal(store: Store, presented: str) -> str:
    with pytest.raises(Unauthorized) as refused:
        _resolve(store, presented)
    return refused.value.message


def _instance(store: Store, owner_id: int) -> str:
    """An instance of a one-model app bound to a sensor and a controller, owned by `owner_id`."""
    blob = {"blob_key": "k", "sha256": "0" * 64, "size": 1, "manifest": "{}"}
    with store.session() as session:
        session.add(AppRecord(id="a1", name="app", version="1", format="modern", owner_id=owner_id, **blob))
        session.flush()
        bindings = {
            "temp": {"device": "t-1", "kind": "sensor"},
            "fan": {"device": "f-1", "kind": "controller"},
        }
        session.add(
            AppInstance(
                id="i1",
                app_id="a1",
                owner_id=owner_id,
                location="site",
                bindings=json.dumps(bindings),
                models=json.dumps({"m": "md1"}),
                token_hash="x" * 64,
            )
        )
    return "i1"


def test_an_instance_credential_fails_at_once_when_reissued_revoked_or_its_owner_goes(store: Store) -> None:
    owner = _user(store, "owner")
    instance_id = _instance(store, owner)
    with store.session() as session:
        old = issue_instance_token(session, instance_id)
    principal = _resolve(store, old)
    assert principal.user_id == owner and principal.role is Role.WORKLOAD
    assert principal.devices == {"t-1": "sensor", "f-1": "controller"}
    assert principal.models == frozenset({"md1"}) and principal.instance_id == "i1"

    with store.session() as session:
        new = issue_instance_token(session, instance_id)
    assert _refusal(store, old) == OUTDATED
    assert _resolve(store, new).token_id == "i1"
    for forged in (f"cni_{instance_id}_{'A' * 43}", "cni_", f"cni_{instance_id}", "cni_nope_x", new + "x"):
        assert _refusal(store, forged) == OUTDATED, forged

    gone = f"the user app instance {instance_id} runs for is disabled or removed"
    _set_disabled(store, owner, True)
    assert _refusal(store, new) == gone
    _set_disabled(store, owner, False)
    assert _resolve(store, new).user_id == owner
    with store.session() as session:
        session.delete(session.get_one(User, owner))  # the instance's owner_id becomes NULL
    assert _refusal(store, new) == gone

    with store.session() as session:
        revoke_instance_token(session, instance_id)
    assert _refusal(store, new) == OUTDATED


def test_an_api_token_fails_at_once_when_revoked_expired_or_its_user_is_disabled(store: Store) -> None:
    user_id = _user(store, "ada")
    with store.session() as session:
        issued = issue_token(session, session.get_one(User, user_id), timedelta(hours=1))
    principal = _resolve(store, issued.secret)
    assert (principal.user_id, principal.name, principal.role) == (user_id, "ada", Role.END_USER)
    with store.session() as session:
        first_use = session.get_one(ApiToken, issued.token_id).last_used_at
    assert first_use is not None and datetime.now(UTC) - first_use < timedelta(seconds=30)
    _resolve(store, issued.secret)  # within LAST_USED_RESOLUTION: not written again
    with store.session() as session:
        token = session.get_one(ApiToken, issued.token_id)
        assert token.last_used_at == first_use
        token.last_used_at = first_use - LAST_USED_RESOLUTION * 2
    _resolve(store, issued.secret)
    with store.session() as session:
        assert session.get_one(ApiToken, issued.token_id).last_used_at > first_use  # type: ignore[operator]

    invalid = "invalid API token; log in again with `canopy login`"
    token_id = issued.token_id
    for forged in (
        f"cnp_{token_id}_{'A' * 43}",
        "cnp_",
        f"cnp_{token_id}",
        "cnp_nope_x",
        "xyz",
        issued.secret + "x",
    ):
        assert _refusal(store, forged) == invalid, forged

    _set_disabled(store, user_id, True)
    assert _refusal(store, issued.secret) == "the token's user is disabled"
    _set_disabled(store, user_id, False)
    with store.session() as session:
        session.get_one(ApiToken, token_id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    stale = "API token expired or revoked; log in again with `canopy login`"
    assert _refusal(store, issued.secret) == stale
    with store.session() as session:
        token = session.get_one(ApiToken, token_id)
        token.expires_at, token.revoked_at = datetime.now(UTC) + timedelta(hours=1), datetime.now(UTC)
    assert _refusal(store, issued.secret) == stale


def test_a_model_call_finds_the_model_and_its_ready_endpoints(store: Store) -> None:
    owner = _user(store, "dev")
    blob = {"blob_key": "k", "sha256": "0" * 64, "size": 1, "manifest": "{}", "framework": "sklearn"}
    with store.session() as session:
        session.add(ModelRecord(id="md1", name="fan", version="1.0", owner_id=owner, **blob))
        for workload, state, endpoint in (
            ("w3", "ready", "http://127.0.0.1:3"),
            ("w1", "ready", "http://127.0.0.1:1"),
            ("w2", "starting", "http://127.0.0.1:2"),
            ("w4", "ready", ""),
        ):
            session.add(
                Replica(
                    workload_id=workload,
                    model_id="md1",
                    generation=1,
                    node_id="n",
                    endpoint=endpoint,
                    state=state,
                )
            )
    with store.session() as session:
        assert resolve_model_id(session, "md1", owner) == "md1"
        assert resolve_model_id(session, "fan", owner) == "md1"
        assert resolve_model_id(session, "dev/fan", owner + 1) == "md1"
        with pytest.raises(NotFound):
            resolve_model_id(session, "fan", owner + 1)
        assert live_endpoints(session, "md1") == ["http://127.0.0.1:1", "http://127.0.0.1:3"]
        assert live_endpoints(session, "md2") == []


def test_the_latest_reading_and_refusals_read_back_as_written(store: Store) -> None:
    with store.session() as session:
        session.add_all([DeviceType(name="THERMOMETER", kind="sensor", spec={}), Location(path="site")])
        session.flush()
        for device_id in ("t-1", "t-2"):
            session.add(
                Device(
                    id=device_id,
                    type_name="THERMOMETER",
                    location_path="site",
                    transport="http",
                    credential_hash=device_id.ljust(64, "0"),
                    config={},
                    labels={},
                )
            )
    at = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    writer = LatestWriter(store)
    reading = {"c": 21.5}
    writer.keep(
        TelemetryReading(
            device_id="t-1",
            device_type="THERMOMETER",
            reading=reading,
            at=at,
            received_at=at,
            seq=4,
            source="http",
        )
    )
    writer.refuse("t-1", "invalid", "too hot")
    writer.refuse("t-1", "invalid", "too cold")
    assert writer.flush() == 2
    with store.session() as session:
        row = latest(session, "t-1")
        assert row is not None and latest(session, "t-2") is None
        assert row == StoredReading("t-1", "THERMOMETER", reading, at, 4, "http", at)
        assert device_latest(session, "t-1") == ("THERMOMETER", row)
        assert device_latest(session, "t-2") == ("THERMOMETER", None)
        assert device_latest(session, "t-3") is None
        assert refusals(session, "t-1") == {"invalid": 2} and refusals(session, "t-2") == {}
