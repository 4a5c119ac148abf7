"""Turn a stored model zip into something a runtime can start: a cached virtualenv or a local image."""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platform_sdk

import canopy
from canopy.archive import extract_zip
from canopy.blob import BlobStore
from canopy.errors import ValidationFailed
from canopy.models.requirements import checked_requirements
from canopy.models.validate import find_package_root
from canopy.workloads.base_images import BASE_IMAGES, build_base_image, image_exists
from canopy.workloads.wheels import HOST_PYTHON, choose_python, file_lock

DOCKERFILE = Path(__file__).resolve().parents[2] / "deploy" / "model.Dockerfile"
DEPS_DOCKERFILE = DOCKERFILE.with_name("deps.Dockerfile")
CORE_MODULES = ("__init__.py", "config.py", "errors.py", "private.py")


@dataclass(frozen=True)
class Package:
    """A model package unpacked on the host, with what its manifest asks of the runtime."""

    model_id: str
    directory: Path
    digest: str
    requirements: list[str]
    python: str


def unpack(
    blob: BlobStore,
    blob_key: str,
    sha256: str,
    model_id: str,
    home: Path,
    requirements: list[str],
    python: str,
) -> Package:
    """Fetch the zip from the artifact store, check its recorded digest, unpack it once per digest.

    `requirements` and `python` come from the manifest validated at upload; they are checked again
    here, so nothing a stored record or a forged request holds reaches pip unchecked.
    """
    data = blob.get(blob_key)
    found = hashlib.sha256(data).hexdigest()
    if not sha256 or found != sha256:
        raise ValidationFailed(
            f"the stored package {blob_key} has digest sha256:{found}, but sha256:{sha256 or '(none)'} "
            "was recorded at upload; it was changed after upload, so it is not deployed. Upload it again",
            details={"sha256": found, "recorded": sha256},
        )
    checked = checked_requirements(requirements, f"the requirements of model {model_id}")
    directory = home / "packages" / model_id / found[:16]
    with file_lock(home / "packages" / f".{model_id}.lock"):
        if not (directory / ".complete").exists():
            shutil.rmtree(directory, ignore_errors=True)
            extract_zip(data, directory / "files")
            (directory / ".complete").touch()
    return Package(model_id, find_package_root(directory / "files"), found[:16], checked, python)


def sdk_bundle(target: Path) -> Path:
    """Copy platform_sdk and the stdlib-only core it imports into target (a PYTHONPATH entry)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(Path(platform_sdk.__file__).parent, target / "platform_sdk", ignore=_pycache)
    (target / "canopy").mkdir(parents=True)
    for name in CORE_MODULES:
        shutil.copy2(Path(canopy.__file__).parent / name, target / "canopy" / name)
    return target


@functools.cache
def _process_sdk(home: Path) -> Path:
    """The SDK bundle process workloads share, copied once per deployer process (never under a live one)."""
    return sdk_bundle(home / "sdk")


def _pycache(_dir: str, names: list[str]) -> list[str]:
    """A copytree ignore function, dropping __pycache__ directories."""
    return [name for name in names if name == "__pycache__"]


def build_process_env(package: Package, home: Path) -> tuple[Path, Path]:
    """A virtualenv for the host Python with the package's pinned wheels; returns (env, sdk dir)."""
    if package.python and package.python != HOST_PYTHON:
        raise ValidationFailed(
            f"the package asks for Python {package.python}; the process runtime has only {HOST_PYTHON} "
            "(use a docker node)"
        )
    _, wheels = choose_python(package.requirements, [HOST_PYTHON], home / "wheels", private=home)
    env = home / "envs" / wheels.name
    with file_lock(home / "envs" / f".{wheels.name}.lock"):
        if not (env / ".complete").exists():
            shutil.rmtree(env, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
            _run_pip(env / "bin" / "python", wheels)
            (env / ".complete").touch()
    return env, _process_sdk(home)


def _run_pip(python: Path, wheels: Path) -> None:
    """Install the wheel directory's requirements into the virtualenv, offline."""
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    command += ["--disable-pip-version-check", "--no-index", "--find-links", str(wheels)]
    command += ["-r", str(wheels / "requirements.txt")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValidationFailed(f"installing the requirements failed: {result.stderr.strip()[-500:]}")


def build_image(package: Package, home: Path) -> str:
    """A local image holding the package, its wheels and the SDK; nothing in the build uses the network."""
    candidates = python_candidates(package.python)
    python, wheels = choose_python(package.requirements, candidates, home / "wheels", private=home)
    tag = f"canopy/model-{package.model_id}:{package.digest}-{wheels.name}"[:128].lower()
    if image_exists(tag):
        return tag
    deps = f"canopy/deps:{python}-{wheels.name}"
    with file_lock(home / "images" / f".{wheels.name}.lock"):
        if not image_exists(deps):
            base = build_base_image(python)
            with tempfile.TemporaryDirectory(prefix="canopy-deps-") as tmp:
                context = Path(tmp)
                shutil.copytree(wheels, context / "wheels", ignore=shutil.ignore_patterns(".complete"))
                _docker_build(context, DEPS_DOCKERFILE, deps, {"BASE": base})
    with tempfile.TemporaryDirectory(prefix="canopy-build-") as tmp:
        context = Path(tmp)
        shutil.copytree(package.directory, context / "package", ignore=shutil.ignore_patterns(".complete"))
        sdk_bundle(context / "sdk")
        _docker_build(context, DOCKERFILE, tag, {"DEPS": deps})
    return tag


def _docker_build(context: Path, dockerfile: Path, tag: str, args: dict[str, str]) -> None:
    """Docker build with no network: everything the build needs is in the context."""
    shutil.copy2(dockerfile, context / "Dockerfile")
    command = ["docker", "build", "--network", "none", "-q", "-t", tag]
    for name, value in args.items():
        command += ["--build-arg", f"{name}={value}"]
    result = subprocess.run([*command, str(context)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValidationFailed(f"image build failed: {result.stderr.strip()[-800:]}")


def python_candidates(requested: str) -> list[str]:
    """The Pythons to try, newest first: the one the package asks for, or every base image's."""
    candidates = [requested] if requested else sorted(BASE_IMAGES, key=_version_key, reverse=True)
    unknown = [python for python in candidates if python not in BASE_IMAGES]
    if unknown:
        raise ValidationFailed(
            f"no base image for Python {unknown[0]} (available: {', '.join(sorted(BASE_IMAGES))}; "
            "Debian ships no 3.10)"
        )
    return candidates


def _version_key(python: str) -> tuple[int, ...]:
    """Order Python versions numerically, so 3.11 comes after 3.9."""
    return tuple(int(part) for part in python.split("."))
