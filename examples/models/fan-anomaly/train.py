"""Train seed 001's fan failure predictor (Keras, 4 dense layers, logistic output) and write both packages.

Needs TensorFlow for the TFLite export (pip install tensorflow-cpu); the packages it writes do not:
package/ serves the .tflite file with ai-edge-litert, package-keras/ the .keras file with Keras 3.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
FEATURES = ("rpm", "vibration", "temperature", "sound")
RANGES = {"rpm": (0, 3000), "vibration": (0, 50), "temperature": (-40, 150), "sound": (0, 160)}


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels; the timestamp and device id are dropped, as in the seed."""
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    features = np.asarray([[float(row[name]) for name in FEATURES] for row in rows], dtype="float32")
    labels = np.asarray([int(row["failure_soon"]) for row in rows], dtype="float32")
    return features, labels


def build_model() -> keras.Model:
    """Four dense layers ending in one sigmoid unit: logistic regression over learned features."""
    model = keras.Sequential(
        [
            keras.Input(shape=(len(FEATURES),), name="features"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid", name="failure_probability"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def manifest(framework: str, model_file: str, requirements: list[str]) -> dict[str, object]:
    """The model.json of one package variant."""
    return {
        "name": "fan-anomaly" if framework == "tflite" else "fan-anomaly-keras",
        "version": "1.0.0",
        "description": "Probability that a turbine fan fails within hours, from rpm, vibration, "
        "temperature and sound (seed 001).",
        "framework": framework,
        "model_file": model_file,
        "preprocess": "preprocess.py:preprocess",
        "inputs": [
            {"name": name, "type": "float", "minimum": low, "maximum": high}
            for name, (low, high) in RANGES.items()
        ],
        "outputs": [{"name": "failure_probability", "type": "float", "minimum": 0, "maximum": 1}],
        "requirements": requirements,
        "python": "3.11",
        "resources": {"cpu": 0.5, "memory_mb": 512},
        "replicas": 1,
    }


def write_package(folder: Path, scaler: dict[str, object], model_json: dict[str, object]) -> None:
    """The shared files of a package: preprocess hook, scaler constants and manifest."""
    folder.mkdir(exist_ok=True)
    shutil.copy2(HERE / "preprocess.py", folder / "preprocess.py")
    (folder / "scaler.json").write_text(json.dumps(scaler, indent=2) + "\n")
    (folder / "model.json").write_text(json.dumps(model_json, indent=2) + "\n")


def main() -> None:
    """Train, print the test accuracy, save model.keras and model.tflite with their packages."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=HERE / "data" / "fan_telemetry.csv")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    keras.utils.set_random_seed(7)
    features, labels = load(args.data)
    order = np.random.default_rng(7).permutation(len(labels))
    split = int(0.8 * len(order))
    train, test = order[:split], order[split:]
    mean, std = features[train].mean(axis=0), features[train].std(axis=0)
    scaled = (features - mean) / std
    model = build_model()
    model.fit(scaled[train], labels[train], epochs=args.epochs, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(scaled[test], labels[test], verbose=0)
    print(f"fan-anomaly test accuracy: {accuracy:.4f} ({len(test)} test points)")

    scaler = {
        "mean": {name: float(value) for name, value in zip(FEATURES, mean, strict=True)},
        "std": {name: float(value) for name, value in zip(FEATURES, std, strict=True)},
        "test_accuracy": round(float(accuracy), 4),
    }
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    write_package(HERE / "package", scaler, manifest("tflite", "model.tflite", ["ai-edge-litert", "numpy"]))
    (HERE / "package" / "model.tflite").write_bytes(tflite)
    keras_requirements = [f"keras=={keras.__version__}", "jax", "numpy"]  # the numpy backend imports jax
    write_package(HERE / "package-keras", scaler, manifest("keras", "model.keras", keras_requirements))
    model.save(HERE / "package-keras" / "model.keras")


if __name__ == "__main__":
    main()
