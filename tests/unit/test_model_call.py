"""model_call: resolution through a fake gateway, round-robin, retry on a dead replica, typed errors."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from platform_sdk._client import ApiClient
from platform_sdk.models import ModelClient, encode_request

from canopy.errors import NotFound, Timeout, Unauthorized, Unavailable, ValidationFailed
from tests.model_servers import EXAMPLES, FakeGateway, ServerProcess, free_port, running_server

IRIS = EXAMPLES / "sklearn-iris" / "package"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[str]]:
    with running_server(IRIS, threads=4) as first, running_server(IRIS, threads=4) as second:
        yield [first.url, second.url]


@pytest.fixture()
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    yield fake
    fake.close()


def client_for(gateway: FakeGateway, ttl: float = 30.0) -> ModelClient:
    return ModelClient(ApiClient(gateway.url, gateway.token), ttl=ttl)


def predictions_served(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics") as response:
        text = response.read().decode()
    line = 'canopy_model_requests_total{model="iris",model_id="m-test",route="/predict",status="200"} '
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


def test_requests_are_json_with_bytes_and_arrays_encoded() -> None:
    body, headers = encode_request({"photo": b"\x00\xff", "window": np.arange(3)})
    assert json.loads(body) == {"inputs": {"photo": "AP8=", "window": [0, 1, 2]}}
    assert headers["Content-Type"] == "application/json"
    body, headers = encode_request(b"\x89PNG")
    assert headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="image"' in body and b"\x89PNG" in body


def test_calls_are_balanced_round_robin_with_one_resolution(
    gateway: FakeGateway, replicas: list[str]
) -> None:
    gateway.routes["iris"] = replicas
    client = client_for(gateway)
    before = [predictions_served(url) for url in replicas]
    results = [client.call("iris", SETOSA) for _ in range(10)]
    assert all(result["species"] == "setosa" for result in results)
    assert [predictions_served(url) - was for url, was in zip(replicas, before, strict=True)] == [5, 5]
    assert gateway.calls == 1


def test_the_resolution_is_refreshed_after_its_ttl(gateway: FakeGateway, replicas: list[str]) -> None:
    gateway.routes["iris"] = replicas[:1]
    client = client_for(gateway, ttl=0.0)
    client.call("iris", SETOSA)
    client.call("iris", SETOSA)
    assert gateway.calls == 2


def test_a_model_without_replicas_yet_is_asked_for_again_soon(
    gateway: FakeGateway, replicas: list[str]
) -> None:
    now = [0.0]
    client = ModelClient(ApiClient(gateway.url, gateway.token), ttl=30.0, clock=lambda: now[0])
    gateway.routes["iris"] = []
    with pytest.raises(Unavailable):
        client.call("iris", SETOSA)
    gateway.routes["iris"] = replicas  # the deployment became ready
    now[0] = 4.0
    with pytest.raises(Unavailable):
        client.call("iris", SETOSA)
    now[0] = 5.0
    assert client.call("iris", SETOSA)["species"] == "setosa"
    assert gateway.calls == 2


def test_a_stale_resolution_is_used_while_the_gateway_is_down(
    gateway: FakeGateway, replicas: list[str]
) -> None:
    gateway.routes["iris"] = replicas
    client = client_for(gateway, ttl=0.0)
    client.call("iris", SETOSA)
    gateway.close()
    assert client.call("iris", SETOSA)["species"] == "setosa"


def test_a_killed_replica_is_retried_on_the_other_and_left_out(
    gateway: FakeGateway, replicas: list[str]
) -> None:
    doomed = ServerProcess(IRIS, threads=2)
    doomed.wait_ready()
    survivor = replicas[0]
    gateway.routes["iris"] = [doomed.url, survivor]
    client = client_for(gateway)
    assert client.call("iris", SETOSA)["species"] == "setosa"
    doomed.stop()
    before = predictions_served(survivor)
    results = [client.call("iris", SETOSA) for _ in range(6)]
    assert all(result["species"] == "setosa" for result in results)
    assert predictions_served(survivor) - before == 6
    assert gateway.calls == 2


def test_concurrent_callers_share_one_client(gateway: FakeGateway, replicas: list[str]) -> None:
    gateway.routes["iris"] = replicas
    client = client_for(gateway)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.call("iris", SETOSA)["species"], range(200)))
    assert results == ["setosa"] * 200


def test_server_errors_come_back_as_the_same_classes(gateway: FakeGateway, replicas: list[str]) -> None:
    gateway.routes["iris"] = replicas
    with pytest.raises(ValidationFailed) as caught:
        client_for(gateway).call("iris", SETOSA | {"petal_width": "wide"})
    assert caught.value.details == {"petal_width": "must be a number"}


def test_an_unknown_model_is_not_found(gateway: FakeGateway) -> None:
    with pytest.raises(NotFound):
        client_for(gateway).call("nope", SETOSA)


def test_a_bad_token_is_unauthorized(gateway: FakeGateway) -> None:
    gateway.routes["iris"] = ["http://127.0.0.1:9"]
    with pytest.raises(Unauthorized):
        ModelClient(ApiClient(gateway.url, "cnp_wrong")).call("iris", SETOSA)


@pytest.mark.parametrize("endpoints", [[], ["http://127.0.0.1:{port}", "http://127.0.0.1:{port}/"]])
def test_no_answering_replica_is_unavailable(gateway: FakeGateway, endpoints: list[str]) -> None:
    port = free_port()
    gateway.routes["iris"] = [endpoint.format(port=port) for endpoint in endpoints]
    with pytest.raises(Unavailable, match="no replica of model 'iris' answered"):
        client_for(gateway).call("iris", SETOSA)


def test_a_replica_that_does_not_answer_in_time_is_a_timeout(gateway: FakeGateway) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        gateway.routes["iris"] = [f"http://127.0.0.1:{silent.getsockname()[1]}"]
        with pytest.raises(Timeout, match=r"did not answer within 0\.2 s"):
            client_for(gateway).call("iris", SETOSA, timeout=0.2)


def test_model_call_uses_the_environment(
    gateway: FakeGateway, replicas: list[str], canopy_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform_sdk
    from platform_sdk import models

    gateway.routes["iris"] = replicas
    monkeypatch.setenv("CANOPY_API_URL", gateway.url)
    monkeypatch.setenv("CANOPY_TOKEN", gateway.token)
    monkeypatch.setattr(models, "_shared", None)
    assert platform_sdk.model_call("iris", SETOSA)["species"] == "setosa"
