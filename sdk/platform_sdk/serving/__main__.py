"""Command line: load a model package once, then serve it over keep-alive HTTP/1.1 until stopped."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from platform_sdk.serving.app import ModelServer, refusal
from platform_sdk.serving.metrics import ServerMetrics
from platform_sdk.serving.pipeline import Pipeline
from platform_sdk.serving.server import HttpServer
from platform_sdk.serving.spec import read_package

MAX_BODY = 32 * 2**20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The server's options."""
    parser = argparse.ArgumentParser(prog="python -m platform_sdk.serving", description=__doc__)
    parser.add_argument("--package", required=True, type=Path, help="the extracted model package")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--model-id", default="", help="the platform's id of this model, for metric labels")
    parser.add_argument("--threads", type=int, default=8, help="requests the model answers at once")
    return parser.parse_args(argv)


def build_server(package: Path, model_id: str = "") -> ModelServer:
    """Read the package, load its model and hooks once, and wrap them in the request handler."""
    spec = read_package(package.resolve())
    metrics = ServerMetrics(spec.name, model_id or spec.name)
    return ModelServer(Pipeline(spec, metrics.observe_inference), metrics)


def main(argv: list[str] | None = None) -> None:
    """Load the model (a failure exits non-zero with its traceback on stderr), then serve it."""
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    server = build_server(args.package, args.model_id)
    http = HttpServer(server.handle, refusal, args.host, args.port, threads=args.threads, max_body=MAX_BODY)
    logging.getLogger("platform_sdk.serving").info(
        "serving model %s %s (%s) on %s:%d",
        server.spec.name,
        server.spec.version,
        server.spec.framework,
        args.host,
        http.port,
    )
    try:
        http.serve_forever()
    except KeyboardInterrupt:
        http.close()


if __name__ == "__main__":
    main()
