"""Fit the 2022 weather model inside Python 3.9 with exactly the package's pins (train.py starts it)."""

import pickle
import sys
from pathlib import Path

import sklearn
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, "/legacy-weather")  # the legacy-weather example's train.py, mounted read-only
from train import synthetic_days

PACKAGE = Path(__file__).resolve().parent / "package"


def main() -> None:
    """Check the interpreter and scikit-learn versions, fit the tree and pickle it into package/model.pkl."""
    if sys.version_info[:2] != (3, 9) or sklearn.__version__ != "1.0.2":
        found = f"Python {sys.version.split()[0]}, scikit-learn {sklearn.__version__}"
        raise SystemExit(f"run fit.py through train.py: it needs Python 3.9 and scikit-learn 1.0.2 ({found})")
    features, labels = synthetic_days(3000)
    model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(features, labels)
    print(f"legacy-weather-2022 training accuracy: {model.score(features, labels):.3f}")
    (PACKAGE / "model.pkl").write_bytes(pickle.dumps(model))


if __name__ == "__main__":
    main()
