"""Build the legacy-format weather package (the original platform's config.json layout) into package/."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy
import sklearn
from sklearn.tree import DecisionTreeClassifier

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "package"
WEATHER = ["Drizzle", "Fog", "Rain", "Snow", "Sun"]
CONFIG = {
    "name": "Weather Detection",
    "description": "Predicts the weather (drizzle, fog, rain, snow or sun) from precipitation and the "
    "day's maximum temperature.",
    "readme": "readme.md",
    "preprocessing": {
        "name": "preprocess.py",
        "method_name": "preprocess",
        "input_params": [{"perc": "float", "temp_max": "float"}],
        "output_params": [{"perc_sqrt": "float", "temp_max": "float"}],
    },
    "prediction": {
        "name": "model.pkl",
        "model_type": "pkl",
        "method_name": "predict",
        "input_params": [{"perc_sqrt": "float", "temp_max": "float"}],
        "output_params": [{"weather": "int"}],
    },
    "postprocessing": {
        "name": "postprocess.py",
        "method_name": "postprocess",
        "input_params": [{"inp": "int"}],
        "output_params": [{"out": "string"}],
    },
    "dependency": "requirements.txt",
}


def synthetic_days(count: int, seed: int = 3) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Days of (sqrt(precipitation mm), max temperature C) labelled by simple weather rules."""
    rng = numpy.random.default_rng(seed)
    perc = numpy.where(rng.random(count) < 0.5, 0.0, rng.gamma(1.5, 4.0, count))
    temp_max = rng.normal(14, 9, count)
    labels = numpy.select(
        [(perc > 0) & (temp_max < 1), perc > 6, perc > 0, temp_max < 8],
        [WEATHER.index("Snow"), WEATHER.index("Rain"), WEATHER.index("Drizzle"), WEATHER.index("Fog")],
        default=WEATHER.index("Sun"),
    )
    return numpy.column_stack([numpy.sqrt(perc), temp_max]), labels


def main() -> None:
    """Fit the classifier and write config.json, the hooks, model.pkl, requirements.txt and readme.md."""
    features, labels = synthetic_days(3000)
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(features, labels)
    print(f"legacy-weather training accuracy: {model.score(features, labels):.3f}")
    PACKAGE.mkdir(exist_ok=True)
    for name in ("preprocess.py", "postprocess.py", "readme.md"):
        shutil.copy2(HERE / "sources" / name, PACKAGE / name)
    (PACKAGE / "model.pkl").write_bytes(pickle.dumps(model, protocol=4))
    (PACKAGE / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    pins = [f"numpy=={numpy.__version__}", f"scikit-learn=={sklearn.__version__}"]
    (PACKAGE / "requirements.txt").write_text("\n".join(pins) + "\n")


if __name__ == "__main__":
    main()
