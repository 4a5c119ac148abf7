"""Local Python base images built from a debootstrap root filesystem; no registry is needed."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MIRROR = "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"


@dataclass(frozen=True)
class BaseImage:
    """A Debian suite whose python3 gives one Python version, tagged as a local image."""

    python: str
    suite: str

    @property
    def tag(self) -> str:
        """The local image tag, e.g. canopy/python:3.11."""
        return f"canopy/python:{self.python}"


# Debian 12 ships Python 3.11 and Debian 11 Python 3.9; no Debian release ships 3.10.
BASE_IMAGES: dict[str, BaseImage] = {
    "3.11": BaseImage("3.11", "bookworm"),
    "3.9": BaseImage("3.9", "bullseye"),
}


def image_exists(tag: str) -> bool:
    """Whether the local Docker engine holds an image with this tag."""
    result = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False)
    return result.returncode == 0


def build_base_image(python: str, *, force: bool = False) -> str:
    """Build canopy/python:<python> from a debootstrap rootfs unless it exists; return its tag."""
    base = BASE_IMAGES.get(python)
    if base is None:
        raise ValueError(f"no base image for Python {python}; available: {', '.join(sorted(BASE_IMAGES))}")
    if not force and image_exists(base.tag):
        return base.tag
    if shutil.which("debootstrap") is None:
        subprocess.run(["apt-get", "install", "-y", "debootstrap"], check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix=f"canopy-rootfs-{base.suite}-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log.info("debootstrap %s into %s (a few minutes)", base.suite, rootfs)
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", base.suite, str(rootfs), MIRROR],
            check=True,
            capture_output=True,
        )
        _slim(rootfs)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "--change", 'CMD ["python3"]', "-", base.tag],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
        )
        if tar.wait() != 0:
            raise RuntimeError(f"tar of the {base.suite} root filesystem failed")
    return base.tag


def _slim(rootfs: Path) -> None:
    """Drop caches and docs the image does not need and add the unprivileged workload user."""
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
        shutil.rmtree(rootfs / sub, ignore_errors=True)
    passwd, group = rootfs / "etc/passwd", rootfs / "etc/group"
    if "canopy:" not in passwd.read_text():
        with passwd.open("a") as handle:
            handle.write("canopy:x:10001:10001:canopy workload:/tmp:/usr/sbin/nologin\n")
        with group.open("a") as handle:
            handle.write("canopy:x:10001:\n")


def main() -> None:
    """Build every base image that is missing (python -m canopy.workloads.base_images [3.11 3.9])."""
    import sys

    logging.basicConfig(level=logging.INFO)
    for python in sys.argv[1:] or sorted(BASE_IMAGES):
        print(build_base_image(python), flush=True)


if __name__ == "__main__":
    main()
