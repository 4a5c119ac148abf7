"""Run in the KServe SDK's own venv: its REST client, in its defaults, against two replicas; prints JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.rest.v2_datamodels import ModelMetadataResponse, ServerMetadataResponse

IRIS_FIELDS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
ROWS = np.array([(5.1, 3.5, 1.4, 0.2), (6.5, 3.0, 5.5, 2.0)] * 32, dtype=np.float32)


def tensor(name: str, datatype: str, values: np.ndarray) -> InferInput:
    """An input tensor filled the SDK's default way (binary data extension)."""
    infer_input = InferInput(name, list(values.shape), datatype)
    infer_input.set_data_from_numpy(values)
    return infer_input


def outputs(response: Any) -> dict[str, Any]:
    """Each output tensor as the SDK decodes it: datatype, shape and values."""
    decoded = {}
    for output in response.outputs:
        values = output.as_numpy().tolist()
        values = [item.decode() if isinstance(item, bytes) else item for item in np.ravel(values).tolist()]
        decoded[output.name] = {"datatype": output.datatype, "shape": output.shape, "values": values}
    return {"id": response.id, "model_name": response.model_name, "outputs": decoded}


async def refusal(call: Any) -> dict[str, Any]:
    """The status and message of the HTTPStatusError the client raises for a refused call."""
    try:
        await call
    except httpx.HTTPStatusError as error:
        return {"status": error.response.status_code, "message": str(error)}
    return {"status": None, "message": "not refused"}


async def metadata(client: InferenceRESTClient, url: str) -> dict[str, Any]:
    """Server and model metadata, read as the SDK's own v2 data models (the client has no call for them)."""
    server = await client._client.get(f"{url}/v2")
    model = await client._client.get(f"{url}/v2/models/iris")
    return {
        "server": ServerMetadataResponse.model_validate(server.json()).model_dump(),
        "model": ModelMetadataResponse.model_validate(model.json()).model_dump(),
    }


async def main(iris: str, counter: str) -> dict[str, Any]:
    """Every call of the brief: health, metadata, FP32 batch of 64, INT64 and BYTES, refusals."""
    async with InferenceRESTClient(RESTConfig(protocol="v2")) as client:
        batch = [tensor(name, "FP32", ROWS[:, i : i + 1]) for i, name in enumerate(IRIS_FIELDS)]
        typed = [
            tensor("count", "INT64", np.array([[1], [2], [2**40]], dtype=np.int64)),
            tensor("word", "BYTES", np.array([[b"hi"], ["h\u00e9".encode()], [b""]], dtype=np.object_)),
        ]
        wrong = [tensor("sepal_length", "FP32", np.array([[-3.0]], dtype=np.float32))]
        return {
            "live": await client.is_server_live(iris),
            "ready": await client.is_server_ready(iris),
            "model_ready": await client.is_model_ready(iris, "iris"),
            "unknown_model_ready": await client.is_model_ready(iris, "tulip"),
            "metadata": await metadata(client, iris),
            "batch": outputs(await client.infer(iris, InferRequest("iris", batch, "kserve-64"), "iris")),
            "typed": outputs(await client.infer(counter, InferRequest("counter", typed), "counter")),
            "bad_request": await refusal(client.infer(iris, InferRequest("iris", wrong), "iris")),
            "unknown_model": await refusal(client.infer(iris, InferRequest("tulip", wrong), "tulip")),
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
