"""The CLI's streamed multipart upload body and the zipping of package folders."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers
from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder

from bootstrap.commands.model import MultipartFileBody
from canopy.archive import zip_directory
from canopy.errors import BadRequest


def test_the_body_streams_in_chunks_reports_progress_and_parses(tmp_path: Path) -> None:
    package = tmp_path / "package.zip"
    package.write_bytes(bytes(range(256)) * 1000)
    progress: list[int] = []
    body = MultipartFileBody("file", package, progress.append)
    chunks = iter(lambda: body.read(8192), b"")
    data = b"".join(chunks)
    body.close()
    assert len(data) == len(body) == sum(progress) and max(progress) == 8192
    environ = EnvironBuilder(
        method="POST", input_stream=io.BytesIO(data), headers=Headers({"Content-Type": body.content_type})
    ).get_environ()
    environ["CONTENT_LENGTH"] = str(len(data))
    _, _, files = parse_form_data(environ)
    assert files["file"].read() == package.read_bytes()


def test_a_folder_is_zipped_with_relative_names_and_links_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "pkg"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.json").write_text("{}")
    (folder / "sub" / "hooks.py").write_text("")
    zip_directory(folder, tmp_path / "out.zip")
    assert sorted(zipfile.ZipFile(tmp_path / "out.zip").namelist()) == ["model.json", "sub/hooks.py"]
    (folder / "link").symlink_to("/etc/passwd")
    with pytest.raises(BadRequest, match="symbolic link"):
        zip_directory(folder, tmp_path / "again.zip")
