"""Model packages from the command line: `canopy model upload|list|show`."""

from __future__ import annotations

import io
import secrets
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, BinaryIO

import click
from platform_sdk._client import default_client

from bootstrap.commands.deployment import DEPLOYMENT_COMMANDS, model_path
from bootstrap.commands.output import print_table, reports_errors
from canopy.archive import package_zip

PROGRESS_THRESHOLD = 1024 * 1024
UPLOAD_TIMEOUT_S = 600.0
SUMMARY_COLUMNS = ["id", "name", "version", "framework", "deployment", "replicas", "nodes", "owner"]
SHOWN_FIELDS = [
    "id",
    "name",
    "version",
    "description",
    "framework",
    "legacy",
    "owner",
    "size",
    "deployment",
    "replicas",
    "nodes",
    "endpoints",
]


class MultipartFileBody:
    """A multipart/form-data body with one file field, read in chunks so it streams and reports progress."""

    def __init__(self, field: str, path: Path, on_read: Callable[[int], None]) -> None:
        boundary = secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="package.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        self._parts: list[BinaryIO] = [io.BytesIO(head), path.open("rb"), io.BytesIO(tail)]
        self._length = len(head) + path.stat().st_size + len(tail)
        self._on_read = on_read

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        """The next bytes of the body (at most `size`; all that is left when negative)."""
        data = bytearray()
        while self._parts and (size < 0 or len(data) < size):
            chunk = self._parts[0].read(-1 if size < 0 else size - len(data))
            if chunk:
                data += chunk
            else:
                self._parts.pop(0).close()
        self._on_read(len(data))
        return bytes(data)

    def close(self) -> None:
        """Close the package file."""
        for part in self._parts:
            part.close()


def upload_package(path: Path, route: str) -> dict[str, Any]:
    """POST the package at `path` (a zip, or a zipped folder) as multipart 'file', with progress."""
    with closing(default_client()) as client, package_zip(path) as package:
        client.timeout = UPLOAD_TIMEOUT_S
        size = package.stat().st_size
        hidden = size < PROGRESS_THRESHOLD
        with click.progressbar(length=size, label="Uploading", file=sys.stderr, hidden=hidden) as bar:
            body = MultipartFileBody("file", package, bar.update)
            try:
                reply: dict[str, Any] = client.post(
                    route, data=body, headers={"Content-Type": body.content_type}
                )
            finally:
                body.close()
    return reply


@click.group()
def model() -> None:
    """Upload and inspect model packages."""


@model.command("upload")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@reports_errors
def model_upload(path: Path) -> None:
    """Upload the model package at PATH (a .zip or a folder, which is zipped); prints the new id last."""
    reply = upload_package(path, "/api/v1/models")
    legacy = ", legacy format" if reply["legacy"] else ""
    click.echo(f"Uploaded {reply['name']} {reply['version']} ({reply['framework']}{legacy}).")
    click.echo(reply["id"])


@model.command("list")
@reports_errors
def model_list() -> None:
    """List models."""
    with closing(default_client()) as client:
        print_table(client.get("/api/v1/models")["models"], SUMMARY_COLUMNS)


@model.command("show")
@click.argument("model_id")
@reports_errors
def model_show(model_id: str) -> None:
    """Show model MODEL_ID (an id, your model's name, or owner/name) with its input and output schema."""
    with closing(default_client()) as client:
        reply: dict[str, Any] = client.get(model_path(model_id))
    for field in SHOWN_FIELDS:
        click.echo(f"{field}: {reply[field]}")
    manifest = reply["manifest"]
    for side in ("inputs", "outputs"):
        click.echo(f"\n{side}:")
        print_table(manifest[side], ["name", "type", "description"])


for _command in DEPLOYMENT_COMMANDS:
    model.add_command(_command)
