"""Preprocess hook of the fan-anomaly packages: scale one telemetry record with the training scaler."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = ("rpm", "vibration", "temperature", "sound")
_SCALER = json.loads((Path(__file__).resolve().parent / "scaler.json").read_text())
_MEAN = np.asarray([_SCALER["mean"][name] for name in FEATURES], dtype="float32")
_STD = np.asarray([_SCALER["std"][name] for name in FEATURES], dtype="float32")


def preprocess(record: dict[str, Any]) -> np.ndarray:
    """A 1x4 float32 batch of standardised features, in the order the model was trained on."""
    raw = np.asarray([[record[name] for name in FEATURES]], dtype="float32")
    return (raw - _MEAN) / _STD
