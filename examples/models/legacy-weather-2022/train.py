"""Train legacy-weather-2022's model.pkl inside Python 3.9 with the package's own 2022 pins, offline.

The pinned wheels are resolved for Python 3.9 as the deployer does, installed into an image built from the
local canopy/python:3.9 base with `docker build --network none`, and fit.py runs in that image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))

from canopy.workloads.base_images import build_base_image  # noqa: E402
from canopy.workloads.builder import DEPS_DOCKERFILE, read_runtime_needs  # noqa: E402
from canopy.workloads.wheels import download_wheels  # noqa: E402

PYTHON = "3.9"
IMAGE = "canopy/train-legacy-weather-2022:latest"


def build_training_image() -> str:
    """An image with exactly the package's pinned wheels installed in /opt/venv on Python 3.9."""
    requirements, _ = read_runtime_needs(HERE / "package")
    base = build_base_image(PYTHON)
    with tempfile.TemporaryDirectory(prefix="canopy-train-") as tmp:
        context = Path(tmp)
        wheels = download_wheels(requirements, PYTHON, context / "cache")
        shutil.copytree(wheels, context / "wheels", ignore=shutil.ignore_patterns(".complete"))
        shutil.copy2(DEPS_DOCKERFILE, context / "Dockerfile")
        command = ["docker", "build", "--network", "none", "-q", "-t", IMAGE, "--build-arg", f"BASE={base}"]
        subprocess.run([*command, str(context)], check=True, stdout=subprocess.DEVNULL)
    return IMAGE


def main() -> None:
    """Build the training image, then run fit.py in it with this folder mounted (writes package/model.pkl)."""
    image = build_training_image()
    legacy = REPO / "examples" / "models" / "legacy-weather"
    subprocess.run(
        [
            *("docker", "run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}"),
            *("-e", "HOME=/tmp", "-v", f"{HERE}:/example", "-v", f"{legacy}:/legacy-weather:ro"),
            *(image, "/opt/venv/bin/python", "/example/fit.py"),
        ],
        check=True,
    )


if __name__ == "__main__":
    main()
