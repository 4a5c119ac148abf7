"""Turn a stored model zip into something a runtime can start: a cached virtualenv or a local image."""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import platform_sdk

from canopy.archive import extract_zip
from canopy.blob import BlobStore
from canopy.errors import ValidationFailed
from canopy.models.requirements import checked_requirements
from canopy.models.validate import find_package_root
from canopy.workloads.rootfs import SUITES, ensure_rootfs, suite_for
from canopy.workloads.sandbox import VENV, WHEELS, Sandbox, build_env, bwrap_argv
from canopy.workloads.wheels import choose_python, file_lock

DEPS_DOCKERFILE = Path(__file__).resolve().parents[2] / "deploy" / "deps.Dockerfile"
BUILD_TIMEOUT = 1800  # seconds the engine may take to build a dependencies image


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
    markers: tuple[str, ...] | None = None,
) -> Package:
    """Fetch the zip from the artifact store, check its recorded digest, unpack it once per digest.

    `requirements` and `python` come from the manifest validated at upload; they are checked again
    here, so nothing a stored record or a forged request holds reaches pip unchecked. `model_id`
    names the package (an app's id for apps); `markers` are the manifest names of its root folder.
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
    files = directory / "files"
    root = find_package_root(files, markers) if markers else find_package_root(files)
    return Package(model_id, root, found[:16], checked, python)


def sdk_bundle(target: Path) -> Path:
    """Copy platform_sdk, self-contained and standard library only, into target (a PYTHONPATH entry)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(Path(platform_sdk.__file__).parent, target / "platform_sdk", ignore=_pycache)
    return target


def shared_sdk(home: Path) -> Path:
    """The SDK bundle workloads bind read-only: CANOPY_HOME/sdk/<digest of the SDK's files>.

    One folder per SDK content, written once (copied aside, then renamed into place) and never
    replaced, so a running workload (a docker replica outlives a platform restart) keeps its files
    while a newer platform brings another bundle. Parallel builds race only on the rename.
    """
    with _SDK_LOCK:
        return _bundle_for(home, _sdk_digest())


_SDK_LOCK = threading.Lock()


@functools.cache
def _sdk_digest() -> str:
    """A digest of the SDK's files (names and contents, caches left out), computed once per process."""
    source = Path(platform_sdk.__file__).parent
    digest = hashlib.sha256()
    files = (p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in sorted(files):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def _bundle_for(home: Path, digest: str) -> Path:
    """The bundle of this SDK content under `home`, copied on the first call if no process did yet."""
    target = home / "sdk" / digest
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=target.parent))
        sdk_bundle(staging)
        staging.chmod(0o755)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)  # another process put the same bundle in place
    return target


def _pycache(_dir: str, names: list[str]) -> list[str]:
    """A copytree ignore function, dropping __pycache__ directories."""
    return [name for name in names if name == "__pycache__"]


@dataclass(frozen=True)
class ProcessEnv:
    """What a process workload runs with: its Python, the virtualenv built in that rootfs, the SDK bundle."""

    python: str
    env: Path
    sdk: Path


def build_process_env(package: Package, home: Path, rootfs_cache: Path) -> ProcessEnv:
    """A virtualenv with the package's pinned wheels, built inside the root filesystem it will run in.

    The Python is the newest whose wheels fit every pin (as for images); the build runs in bubblewrap
    with the rootfs as /, the wheels read-only, no network and a scrubbed environment, so the
    virtualenv's interpreter paths are the ones the sandbox sees.
    """
    python, wheels = choose_python(
        package.requirements, python_candidates(package.python), home / "wheels", private=home
    )
    rootfs = ensure_rootfs(rootfs_cache, python)
    env = home / "envs" / f"rootfs-{wheels.name}"
    with file_lock(home / "envs" / f".rootfs-{wheels.name}.lock"):
        if not (env / ".complete").exists():
            shutil.rmtree(env, ignore_errors=True)
            env.mkdir(parents=True)
            _install_in_sandbox(rootfs, env, wheels)
            (env / ".complete").touch()
    return ProcessEnv(python, env, shared_sdk(home))


def _install_in_sandbox(rootfs: Path, env: Path, wheels: Path) -> None:
    """python3 -m venv and an offline pip install of the wheel directory, inside the rootfs."""
    script = f"python3 -m venv {VENV} && {VENV}/bin/python -m pip install -q --disable-pip-version-check "
    script += f"--no-index --find-links {WHEELS} -r {WHEELS}/requirements.txt"
    sandbox = Sandbox(
        rootfs=str(rootfs),
        read_only={WHEELS: str(wheels)},
        writable={VENV: str(env)},
        env=build_env(),
        command=["/bin/sh", "-c", script],
        network=False,
    )
    result = subprocess.run(bwrap_argv(sandbox), capture_output=True, text=True, env={}, check=False)
    if result.returncode != 0:
        shutil.rmtree(env, ignore_errors=True)
        raise ValidationFailed(f"installing the requirements failed: {result.stderr.strip()[-500:]}")


def deps_image(package: Package, home: Path, rootfs_cache: Path) -> str:
    """The local image with the package's pinned wheels installed, built once per set of wheels.

    Model and app containers run this image with the package and the SDK bundle bound read-only at
    start (docker_runtime), so a new package or version with the same pins builds nothing. Nothing in
    the build uses the network.
    """
    from canopy.workloads.base_images import build_base_image, image_exists  # docker: on this path only

    candidates = python_candidates(package.python)
    python, wheels = choose_python(package.requirements, candidates, home / "wheels", private=home)
    tag = f"canopy/deps:{python}-{wheels.name}"
    if image_exists(tag):
        return tag
    with file_lock(home / "images" / f".{wheels.name}.lock"):
        if not image_exists(tag):
            base = build_base_image(python, rootfs_cache)
            with tempfile.TemporaryDirectory(prefix="canopy-deps-") as tmp:
                context = Path(tmp)
                shutil.copytree(wheels, context / "wheels", ignore=shutil.ignore_patterns(".complete"))
                _docker_build(context, DEPS_DOCKERFILE, tag, {"BASE": base})
    return tag


def _docker_build(context: Path, dockerfile: Path, tag: str, args: dict[str, str]) -> None:
    """Docker build with no network (through the engine's API): everything it needs is in the context."""
    import docker
    from docker.errors import BuildError

    shutil.copy2(dockerfile, context / "Dockerfile")
    client = docker.from_env(timeout=BUILD_TIMEOUT)
    try:
        client.images.build(path=str(context), tag=tag, buildargs=args, network_mode="none", rm=True)
    except BuildError as exc:
        lines = [str(step.get("stream") or step.get("error") or "") for step in exc.build_log]
        log = "".join(lines).strip()[-800:]
        raise ValidationFailed(f"image build failed: {exc.msg}: {log}") from None
    finally:
        client.close()


def python_candidates(requested: str) -> list[str]:
    """The Pythons to try, newest first: the one the package asks for, or every root filesystem's."""
    if requested:
        return [suite_for(requested).python]
    return sorted(SUITES, key=_version_key, reverse=True)


def _version_key(python: str) -> tuple[int, ...]:
    """Order Python versions numerically, so 3.11 comes after 3.9."""
    return tuple(int(part) for part in python.split("."))
