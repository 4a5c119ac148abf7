"""Train a small scikit-learn iris classifier and write the Canopy model package to package/."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

PACKAGE = Path(__file__).resolve().parent / "package"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def manifest() -> dict[str, object]:
    """The package's model.json; requirements pin the libraries the pickle was written with."""
    return {
        "name": "iris",
        "version": "1.0.0",
        "description": "Iris species from sepal and petal sizes (scikit-learn logistic regression).",
        "framework": "sklearn",
        "model_file": "model.pkl",
        "inputs": [{"name": name, "type": "float", "minimum": 0, "maximum": 20} for name in FEATURES],
        "outputs": [
            {"name": "species", "type": "string"},
            {"name": "probabilities", "type": "object", "description": "species -> probability"},
        ],
        "requirements": [f"scikit-learn=={sklearn.__version__}", f"numpy=={numpy.__version__}"],
        "python": "3.11",
        "resources": {"cpu": 0.5, "memory_mb": 256},
        "replicas": 1,
    }


def main() -> None:
    """Fit, report test accuracy, and write model.pkl and model.json."""
    iris = load_iris()
    labels = iris.target_names[iris.target]
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, labels, test_size=0.25, random_state=7, stratify=labels
    )
    model = LogisticRegression(max_iter=500).fit(x_train, y_train)
    print(f"iris test accuracy: {model.score(x_test, y_test):.3f}")
    PACKAGE.mkdir(exist_ok=True)
    (PACKAGE / "model.pkl").write_bytes(pickle.dumps(model, protocol=4))
    (PACKAGE / "model.json").write_text(json.dumps(manifest(), indent=2) + "\n")


if __name__ == "__main__":
    main()
