"""Image benchmark: each image's size, a warm `make images`, and a warm rebuild after a one-line change.

Usage: python tests/bench/images.py [--rounds 3]

Run after one `make images` (the cold build is not measured here). Figures, printed as JSON:
- `sizes_mb`: every canopy/<name>:latest image (target: platform <= 250 MB);
- `warm_all_s`: medians of `python -m bootstrap.images` with nothing changed (every layer cached);
- `python_change_s`: medians of rebuilding the platform image after appending a comment line to a
  module of canopy/ (target <= 20 s); the file is restored after each round and the image rebuilt;
- `baseline_noop_build_s`: the same-run baseline, a `docker build` of a one-line Dockerfile FROM the
  platform image (the engine's fixed cost per build on this machine right now), and `load_1m`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds a command took; raises when it fails."""
    started = time.monotonic()
    subprocess.run(argv, cwd=REPO, env=env, check=True, capture_output=True)
    return time.monotonic() - started


def sizes() -> dict[str, float]:
    """Size in MB of each canopy/<name>:latest image of the catalog."""
    sys.path[:0] = [str(REPO), str(REPO / "sdk")]
    from bootstrap.images.catalog import IMAGES

    found = {}
    for spec in IMAGES:
        out = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", spec.tag("latest")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found[spec.name] = round(int(out.strip()) / 1e6, 1)
    return found


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    env = os.environ | {"PYTHONPATH": f"{REPO}:{REPO / 'sdk'}"}
    build = [sys.executable, "-m", "bootstrap.images"]
    timed(build, env)  # make sure everything is built and cached
    warm = [timed(build, env) for _ in range(rounds)]
    target = REPO / "canopy" / "errors.py"
    original = target.read_text()
    changed = []
    try:
        for n in range(rounds):
            target.write_text(original + f"# bench {n} {time.time()}\n")
            changed.append(timed([*build, "platform"], env))
            target.write_text(original)
    finally:
        target.write_text(original)
        timed([*build, "platform"], env)
    with tempfile.TemporaryDirectory() as context:
        (Path(context) / "Dockerfile").write_text(f"FROM canopy/platform:latest\nLABEL bench={time.time()}\n")
        noop = [timed(["docker", "build", "-q", "-t", "canopy/bench-noop", context]) for _ in range(rounds)]
    subprocess.run(["docker", "image", "rm", "-f", "canopy/bench-noop"], capture_output=True, check=False)
    print(
        json.dumps(
            {
                "sizes_mb": sizes(),
                "warm_all_s": round(statistics.median(warm), 2),
                "python_change_s": round(statistics.median(changed), 2),
                "baseline_noop_build_s": round(statistics.median(noop), 2),
                "load_1m": os.getloadavg()[0],
                "targets": {"platform_mb": 250, "python_change_s": 20},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
