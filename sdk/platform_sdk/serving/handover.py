"""A pooled model server: import the framework the image holds, then wait to be handed a package.

The docker runtime keeps one such server per dependencies image; when a model of that image starts, the
runtime puts the package in place and writes the handover file (atomically, by rename), which names the
model. The server then loads the package as a cold one would, with the framework already imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import time
from pathlib import Path

POLL_SECONDS = 0.05  # between checks for the handover file: about 0.3% of a core while it waits
# The modules a framework's models need, imported before a fork is safe (TensorFlow and Keras are not).
PRELOADS: dict[str, tuple[str, ...]] = {
    "sklearn": (
        "numpy",
        "scipy",
        "joblib",
        "sklearn",
        "sklearn.linear_model",
        "sklearn.ensemble",
        "sklearn.tree",
        "sklearn.pipeline",
        "sklearn.preprocessing",
        "sklearn.svm",
        "sklearn.neighbors",
    ),
    "ai_edge_litert": ("numpy", "ai_edge_litert.interpreter"),
    "tflite_runtime": ("numpy", "tflite_runtime.interpreter"),
}
log = logging.getLogger("platform_sdk.serving")


def preload() -> list[str]:
    """Import the modules of every preloadable framework installed here; the modules imported."""
    imported: list[str] = []
    for framework, modules in PRELOADS.items():
        if importlib.util.find_spec(framework) is None:
            continue
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as exc:  # a module that fails here fails again, reported, at the model's load
                log.warning("could not preload %s (%s)", module, exc)
                continue
            imported.append(module)
    return imported


def await_handover(handover: Path, poll: float = POLL_SECONDS) -> str:
    """Wait for the handover file and return the model id it names."""
    while not handover.exists():
        time.sleep(poll)
    model_id = json.loads(handover.read_text())["model_id"]
    if not isinstance(model_id, str):
        raise ValueError(f"{handover} names no model id")
    return model_id
