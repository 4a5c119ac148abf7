"""Pure gateway limits: route body limits, JSON nesting depth and long-lived slots."""

from __future__ import annotations

import pytest

from canopy.errors import TooManyRequests
from services.gateway.limits import JSON_BYTES, LOGIN_BYTES, body_limit, nesting_depth
from services.gateway.slots import LongLivedSlots


def test_body_limits_per_route() -> None:
    assert body_limit("POST", "/api/v1/auth/login", "") == LOGIN_BYTES
    assert body_limit("POST", "/api/v1/auth/login/", "Bearer x") == LOGIN_BYTES
    assert body_limit("POST", "/api/v1/users", "Bearer x") == JSON_BYTES
    assert body_limit("POST", "/api/v1/models", "Bearer cnp_a_b") > 64 * 1024 * 1024 - 1
    assert body_limit("POST", "/api/v1/devices/upload", "bearer cnp_a_b") >= 64 * 1024 * 1024
    assert body_limit("POST", "/api/v1/models", "") == JSON_BYTES
    assert body_limit("POST", "/api/v1/models", "Basic abc") == JSON_BYTES
    assert body_limit("PUT", "/api/v1/models", "Bearer cnp_a_b") == JSON_BYTES


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"1", 0),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["[[[[", "}}}}", "\\"[["]', 1),
        (b"[" * 50 + b"]" * 50, 50),
        (b'{"a": "\\\\"}', 1),
    ],
)
def test_nesting_depth_ignores_brackets_in_strings(text: bytes, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_slots_bound_each_user_and_the_total() -> None:
    slots = LongLivedSlots(per_user=2, total=3)
    slots.admit("a")
    slots.admit("a")
    with pytest.raises(TooManyRequests, match="CANOPY_STREAMS_PER_USER"):
        slots.admit("a")
    slots.admit("b")
    with pytest.raises(TooManyRequests, match="CANOPY_STREAMS_TOTAL"):
        slots.admit("c")
    slots.release("a")
    with slots.hold("c"):
        assert slots.held() == 3
    assert slots.held() == 2
