from __future__ import annotations

import pytest

from canopy import errors
from canopy.bus import open_bus


@pytest.mark.parametrize(
    "cls",
    [
        errors.BadRequest,
        errors.ValidationFailed,
        errors.NotFound,
        errors.Conflict,
        errors.Unauthorized,
        errors.Forbidden,
        errors.Unavailable,
        errors.TooManyRequests,
    ],
)
def test_client_rebuilds_the_server_error_class(cls: type[errors.CanopyError]) -> None:
    original = cls("boom", details={"field": "bad"})
    rebuilt = errors.error_from_payload(original.status, original.to_payload())
    assert type(rebuilt) is cls
    assert rebuilt.message == "boom"
    assert rebuilt.details == {"field": "bad"}


def test_unknown_code_falls_back_to_status() -> None:
    assert isinstance(errors.error_from_payload(404, {"error": {"code": "weird"}}), errors.NotFound)
    assert type(errors.error_from_payload(418, "teapot")) is errors.CanopyError


def test_retryable_marks_transient_errors() -> None:
    assert errors.Unavailable.retryable and errors.Timeout.retryable
    assert not errors.BadRequest.retryable and not errors.Forbidden.retryable


def test_mistyped_bus_scheme_suggests_the_driver() -> None:
    with pytest.raises(errors.NoSuchDriver) as caught:
        open_bus("kafak://127.0.0.1:9092")
    assert str(caught.value) == "No such bus driver 'kafak'. Did you mean 'kafka'?"
