"""The process runtime: each model server in a bubblewrap sandbox, as a uid of its own, within limits."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from canopy.apps.database import NodeDatabases
from canopy.apps.database_plan import WORKLOAD_DATABASE_DIR
from canopy.contracts.deploy import ProcessState, WorkloadSpec
from canopy.logs.workload import WorkloadOutput
from canopy.private import make_private_dir
from canopy.workloads import cgroups, proctree
from canopy.workloads.databases import WorkloadDatabases
from canopy.workloads.isolation import Confinement, preexec, stage_dir, staged_paths
from canopy.workloads.launch import app_variables, has_endpoint, launch_command, listen_port
from canopy.workloads.logpump import LogPump, read_log
from canopy.workloads.rootfs import ensure_rootfs
from canopy.workloads.runtime import Runtime, tail
from canopy.workloads.sandbox import (
    MODEL,
    PROCESSES,
    SDK,
    VENV,
    Sandbox,
    bwrap_argv,
    pick_uid,
    rlimits,
    workload_env,
)
from canopy.workloads.spares import Spares
from canopy.workloads.wheels import file_lock

log = logging.getLogger(__name__)
DEFAULT_PYTHON = "3.11"  # what a spec from before the sandbox (no python field) was built for


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bwrap_path() -> str:
    """The bubblewrap binary, or a RuntimeError saying how to install it."""
    found = shutil.which("bwrap", path=os.environ.get("PATH", "") + ":/usr/bin:/bin")
    if found is None:
        raise RuntimeError("bubblewrap is missing: run `apt-get install -y bubblewrap` (as root)")
    return found


def spare_key(spec: WorkloadSpec) -> str:
    """What identifies the replicas a spare can stand in for: a digest of their whole spec."""
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()


def _cores_for(workload_id: str, cpu: float) -> tuple[int, ...]:
    """ceil(cpu) of the cores this process may use, starting at an offset chosen by the workload id."""
    available = sorted(os.sched_getaffinity(0))
    count = min(len(available), max(1, math.ceil(cpu)))
    offset = zlib.crc32(workload_id.encode()) % len(available)
    return tuple(available[(offset + i) % len(available)] for i in range(count))


def _yield_cpu(cgroup: cgroups.Cgroup | None, lowest: bool) -> None:
    """Set a sandbox's CPU weight, when it has a cgroup; a failure only leaves the old weight."""
    if cgroup is not None:
        try:
            cgroup.yield_cpu(lowest)
        except OSError as exc:
            log.warning("could not set the CPU weight of %s (%s)", cgroup.name, exc)


@dataclass
class _Process:
    """A started sandbox: bwrap's process, its log pump, endpoint, uid and cgroup."""

    popen: subprocess.Popen[bytes]
    pump: LogPump
    endpoint: str
    uid: int | None
    cgroup: cgroups.Cgroup | None
    spec: WorkloadSpec  # resources.cpu is the limit once ready; while it starts it may use all its cores


class ProcessRuntime(Runtime):
    """Runs each model server (on 127.0.0.1) or app inside bubblewrap, sharing the host network."""

    name = "process"

    def __init__(
        self,
        work_dir: Path,
        rootfs_cache: Path,
        gateway_url: str = "",
        databases: NodeDatabases | None = None,
        output: WorkloadOutput | None = None,
        spare_models: bool = True,
    ) -> None:
        self.work_dir = work_dir
        self.spare_models = spare_models
        self.output = output  # each workload's lines also go to the logger, when given
        self.rootfs_cache = rootfs_cache
        self.gateway_url = gateway_url  # apps share the host network: they reach the gateway as we do
        self.databases = WorkloadDatabases(databases)
        self.privileged = os.geteuid() == 0
        self.cgroup_version = cgroups.detect()
        self._procs: dict[str, _Process] = {}
        # --die-with-parent ties the sandbox to the thread that forks bwrap: one thread forks them all
        # and lives as long as the runtime (command threads come and go).
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
        self._spare_starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spare-starter")
        self.spares: Spares[_Process] = Spares(lambda proc: proc.popen.poll() is None, self._terminate)
        if not self.privileged:
            log.warning(
                "the platform does not run as root: process workloads run sandboxed by bubblewrap but as the "
                "platform's own uid and without cgroup limits (a uid of their own and cgroups need root)"
            )

    def start(self, workload_id: str, spec: WorkloadSpec, generation: int) -> str:
        """Start the model server or app in its sandbox; return its endpoint (idempotent while it runs)."""
        current = self._procs.get(workload_id)
        if current is not None and current.popen.poll() is None:
            return current.endpoint
        try:
            return self._start(workload_id, spec)
        except BaseException:
            self.databases.stop(workload_id)
            raise

    def _start(self, workload_id: str, spec: WorkloadSpec) -> str:
        """Hand over the model's warm spare, or start the sandbox on all of its cores."""
        spare = self.spares.take(spare_key(spec)) if self.keeps_spares(spec) else None
        if spare is not None:
            spare.pump.move_to(self._log_path(workload_id))
            _yield_cpu(spare.cgroup, lowest=False)  # one still starting finishes at the normal weight
            log.info("workload %s took over the warm spare on %s", workload_id, spare.endpoint)
        self._procs[workload_id] = proc = spare or self._launch(workload_id, spec, starting=True)
        return proc.endpoint

    def _launch(self, name: str, spec: WorkloadSpec, starting: bool) -> _Process:
        """Start a sandbox (and the instance's database first, when it asked for one).

        A workload may use all the cores it is pinned to until it is settled; a spare (not `starting`)
        starts the same way, but at the lowest CPU weight of the workloads until it is handed over.
        """
        database = self.databases.start(name, spec)
        port = listen_port(spec, free_port())
        cores = _cores_for(name, spec.resources.cpu)
        sources = {
            "rootfs": str(ensure_rootfs(self.rootfs_cache, spec.python or DEFAULT_PYTHON)),
            "venv": spec.env_dir,
            "model": spec.package_dir,
            "sdk": spec.sdk_dir,
        }
        if database is not None:
            sources["database"] = str(database.socket_dir)
        stage = stage_dir(self.rootfs_cache) if self.privileged else ""
        seen = staged_paths(sources, stage) if stage else sources
        read_only = {VENV: seen["venv"], MODEL: seen["model"], SDK: seen["sdk"]}
        if database is not None:
            read_only[WORKLOAD_DATABASE_DIR] = seen["database"]
        variables = {
            **app_variables(spec, self.gateway_url, port),
            **(database.workload_env if database else {}),
        }
        sandbox = Sandbox(
            rootfs=seen["rootfs"],
            read_only=read_only,
            env={**workload_env(len(cores)), **variables},
            command=launch_command(spec, f"{VENV}/bin/python", MODEL, "127.0.0.1", port),
            cwd=MODEL,
        )
        log_path = self._log_path(name)
        make_private_dir(log_path.parent)
        argv = [bwrap_path(), *bwrap_argv(sandbox)[1:]]
        with file_lock(self.rootfs_cache / ".uids.lock"):
            uid = pick_uid(name, self._uids_in_use()) if self.privileged else None
            if uid is not None:
                self.databases.admit(spec, uid)  # the sandbox runs with gid = uid
            cgroup = self._cgroup(name, spec, float(len(cores)))
            if not starting:
                _yield_cpu(cgroup, lowest=True)
            confinement = Confinement(
                uid=uid,
                stage_dir=stage,
                sources=sources if stage else {},
                cgroup=cgroup,
                limits=rlimits(spec.resources.memory_mb, dedicated_uid=uid is not None),
                cores=cores,
            )

            def spawn() -> subprocess.Popen[bytes]:
                """Fork bwrap (on the spawner thread); its own environment is empty like the workload's."""
                return subprocess.Popen(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={},
                    preexec_fn=preexec(confinement),
                )

            popen = self._spawner.submit(spawn).result()
        assert popen.stdout is not None
        endpoint = f"http://127.0.0.1:{port}" if has_endpoint(spec) else ""
        lines = self.output.lines_of(spec.kind, spec.model_id) if self.output else None
        pump = LogPump(popen.stdout, log_path, lines=lines)
        log.info("workload %s started in bubblewrap as uid %s on %s", name, uid or os.geteuid(), endpoint)
        return _Process(popen, pump, endpoint, uid, cgroup, spec)

    def _log_path(self, name: str) -> Path:
        """Where a workload's (or spare's) output is kept."""
        return self.work_dir / "logs" / f"{name}.log"

    def keeps_spares(self, spec: WorkloadSpec) -> bool:
        """Whether this runtime keeps a warm spare for the workload: models only, when enabled."""
        return self.spare_models and spec.kind == "model"

    def _cgroup(self, workload_id: str, spec: WorkloadSpec, cpu: float) -> cgroups.Cgroup | None:
        """The workload's cgroup with its memory, `cpu` and pids limits; None (rlimits only) if impossible."""
        if not self.cgroup_version:
            return None
        name, resources = f"{workload_id}-{os.getpid()}", spec.resources
        try:
            return cgroups.Cgroup.create(self.cgroup_version, name, resources.memory_mb, cpu, PROCESSES)
        except OSError as exc:
            log.warning("no cgroup for %s (%s): only rlimits bound it", workload_id, exc)
            return None

    def _uids_in_use(self) -> set[int]:
        """Uids owned by running processes on this machine and those this runtime handed out."""
        started = [*self._procs.values(), *self.spares.started()]
        taken = {proc.uid for proc in started if proc.uid is not None}
        for process in psutil.process_iter(["uids"]):
            uids = process.info.get("uids")
            if uids is not None:
                taken.add(uids.real)
        return taken

    def settle(self, workload_id: str) -> None:
        """Hold a workload that started on all of its cores to its CPU limit; then provide its spare."""
        proc = self._procs.get(workload_id)
        if proc is None:
            return
        if proc.cgroup is not None:
            try:
                proc.cgroup.limit_cpu(proc.spec.resources.cpu)
            except OSError as exc:
                log.warning("could not lower the CPU limit of %s (%s)", workload_id, exc)
        if self.keeps_spares(proc.spec) and proc.popen.poll() is None:
            self._spare_starter.submit(self._provide_spare, proc.spec)

    def _provide_spare(self, spec: WorkloadSpec) -> None:
        """Start the model's spare unless one is kept or no replica of it is left."""
        key = spare_key(spec)
        if self.spares.has(key) or not self._serves(key):
            return
        try:
            self.spares.keep(key, self._launch(f"spare-{key[:16]}", spec, starting=False))
        except Exception:
            log.exception("could not start a warm spare of %s", spec.model_id)
            return
        if not self._serves(key):  # its last replica stopped meanwhile
            self.spares.drop(key)

    def _serves(self, key: str) -> bool:
        """Whether a replica with this spare key is started."""
        return any(spare_key(proc.spec) == key for proc in list(self._procs.values()))

    def stop(self, workload_id: str) -> None:
        """Terminate the sandbox, kill it after 5 s and anything left in its cgroup; idempotent.

        The model's spare is ended too when no replica of it is left.
        """
        self._retire(workload_id, self.spares.drop)

    def hand_over(self, workload_id: str) -> None:
        """Stop a replica that is being replaced, keeping the model's spare a while for the replacement."""
        self._retire(workload_id, self.spares.expire)

    def _retire(self, workload_id: str, end_spare: Callable[[str], None]) -> None:
        """Stop a workload and its database; `end_spare` the model's spare if no replica of it is left."""
        proc = self._procs.pop(workload_id, None)
        if proc is not None:
            self._terminate(proc)
        self.databases.stop(workload_id)
        if proc is not None and self.keeps_spares(proc.spec):
            key = spare_key(proc.spec)
            if not self._serves(key):
                end_spare(key)

    @staticmethod
    def _terminate(proc: _Process) -> None:
        """Terminate one sandbox, kill it after 5 s, and anything left in its cgroup."""
        if proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGTERM)
            os.killpg(proc.popen.pid, signal.SIGCONT)  # a frozen (hung) sandbox gets its SIGTERM too
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=5)
        if proc.cgroup is not None:
            proc.cgroup.destroy()
        proc.pump.join(timeout=2)

    def running(self, workload_id: str) -> bool:
        """Whether the sandbox is alive."""
        proc = self._procs.get(workload_id)
        return proc is not None and proc.popen.poll() is None

    def process_state(self, workload_id: str) -> ProcessState:
        """exited, stopped when any process of the sandbox is frozen (SIGSTOP), else running."""
        proc = self._procs.get(workload_id)
        if proc is None or proc.popen.poll() is not None:
            return "exited"
        if proctree.children_listed():  # a few files of the sandbox's own processes, checked every report
            frozen = proctree.any_frozen(proc.popen.pid)
        else:
            try:
                root = psutil.Process(proc.popen.pid)
                tree = [root, *root.children(recursive=True)]  # a scan of every process on the machine
                frozen = any(p.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP) for p in tree)
            except psutil.Error:
                return "running" if proc.popen.poll() is None else "exited"
        return "stopped" if frozen else "running"

    def logs(self, workload_id: str, lines: int = 20) -> list[str]:
        """The last lines the workload wrote (all of them, once it has exited)."""
        proc = self._procs.get(workload_id)
        if proc is not None and proc.popen.poll() is not None:
            proc.pump.join(timeout=2)
        return tail(read_log(self._log_path(workload_id)), lines)

    def workloads(self) -> list[str]:
        """Every workload this runtime started and has not stopped."""
        return list(self._procs)

    def purge(self, instance_id: str) -> None:
        """Drop the data a deleted app instance left on this node."""
        self.databases.remove(instance_id)

    def close(self) -> None:
        """Stop every spare, workload and database."""
        self._spare_starter.shutdown(wait=True, cancel_futures=True)
        self.spares.close()
        for workload_id in list(self._procs):
            self.stop(workload_id)
        self.databases.close()
        self._spawner.shutdown()
