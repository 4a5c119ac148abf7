"""The original platform's model calls by index: model i is the model the app declared as model_<i>."""

from __future__ import annotations

from typing import Any, BinaryIO, Union

from platform_sdk.errors import BadRequest
from platform_sdk.models import model_call

Image = Union[bytes, bytearray, BinaryIO]


def _model_name(model_index: int) -> str:
    """The declared name of the model at `model_index` in the app's config/models.json."""
    if isinstance(model_index, bool) or not isinstance(model_index, int):
        raise BadRequest(f"a model index is an int (the position in config/models.json), not {model_index!r}")
    return f"model_{model_index}"


def get_prediction(model_index: int, json_obj: Any, timeout: float = 10.0) -> Any:
    """Predict with the app's model `model_index` on a JSON record; a legacy model answers {"output": ...}."""
    return model_call(_model_name(model_index), json_obj, timeout)


def get_prediction_using_image(model_index: int, image_obj: Image, timeout: float = 10.0) -> Any:
    """Predict on an image (bytes or a binary file), sent as the multipart field 'image' as before."""
    data = image_obj if isinstance(image_obj, (bytes, bytearray)) else image_obj.read()
    if not isinstance(data, (bytes, bytearray)):
        raise BadRequest("get_prediction_using_image takes image bytes or a file opened in binary mode")
    return model_call(_model_name(model_index), bytes(data), timeout)
