"""Command line: load a model package, then serve it over keep-alive HTTP/1.1 until stopped.

With more than one worker (CANOPY_SERVER_WORKERS, else one per available core, at most two), the parent
listens and each worker process loads the model and serves on the shared socket.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from pathlib import Path

from platform_sdk.serving.app import ModelServer, refusal
from platform_sdk.serving.handover import await_handover, preload
from platform_sdk.serving.metrics import ServerMetrics
from platform_sdk.serving.pipeline import Pipeline
from platform_sdk.serving.server import CONNECTION_LIMIT, HttpServer, listen
from platform_sdk.serving.shared_metrics import SharedMetrics
from platform_sdk.serving.spec import read_package
from platform_sdk.serving.workers import Supervisor, worker_count

MAX_BODY = 32 * 2**20
log = logging.getLogger("platform_sdk.serving")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The server's options."""
    parser = argparse.ArgumentParser(prog="python -m platform_sdk.serving", description=__doc__)
    parser.add_argument("--package", required=True, type=Path, help="the extracted model package")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--model-id", default="", help="the platform's id of this model, for metric labels")
    parser.add_argument(
        "--handover",
        type=Path,
        default=None,
        help="pooled: preload the framework, then wait for this file (naming the model) before loading",
    )
    parser.add_argument("--threads", type=int, default=8, help="requests each worker answers at once")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="worker processes (default: $CANOPY_SERVER_WORKERS, else cores, max 2)",
    )
    return parser.parse_args(argv)


def build_server(package: Path, model_id: str = "", shared: SharedMetrics | None = None) -> ModelServer:
    """Read the package, load its model and hooks once, and wrap them in the request handler."""
    spec = read_package(package.resolve())
    metrics = ServerMetrics(spec.name, model_id or spec.name, shared)
    return ModelServer(Pipeline(spec, metrics.observe_inference), metrics)


def serve(
    args: argparse.Namespace,
    workers: int = 1,
    shared: SharedMetrics | None = None,
    listener: socket.socket | None = None,
) -> tuple[ServerMetrics, HttpServer]:
    """Load the model and open its HTTP server (on the parent's `listener` in a worker process)."""
    server = build_server(args.package, args.model_id, shared)
    http = HttpServer(
        server.handle,
        refusal,
        args.host,
        args.port,
        threads=args.threads,
        max_body=MAX_BODY,
        listener=listener,
        connections=CONNECTION_LIMIT // workers,
    )
    spec = server.spec
    log.info(
        "serving model %s %s (%s) on %s:%d (pid %d)",
        spec.name,
        spec.version,
        spec.framework,
        args.host,
        http.port,
        os.getpid(),
    )
    return server.metrics, http


def main(argv: list[str] | None = None) -> None:
    """Load the model (a failure exits non-zero with its traceback on stderr), then serve it."""
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.handover is not None:
        log.info("pooled: preloaded %s; waiting for a package", ", ".join(preload()) or "nothing")
        args.model_id = await_handover(args.handover)
    workers = args.workers or worker_count()
    if workers > 1:
        listener = listen(args.host, args.port)
        sys.exit(Supervisor(workers, lambda shared: serve(args, workers, shared, listener)).run())
    http = serve(args)[1]
    try:
        http.serve_forever()
    except KeyboardInterrupt:
        http.close()


if __name__ == "__main__":
    main()
