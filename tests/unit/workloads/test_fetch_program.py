"""The fetch-model init container's program, on the digits archives this project builds: it installs the archive
the spec names and refuses one whose manifest names another version or model, with a one-line reason in its
termination message. Run the way the container runs it (`python3 -I -c <program> ...`), over real HTTP on loopback
and from a file as from a mounted claim."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from visionroll.workloads import fetch_program
from visionroll.workloads.storage import PROGRAM

pytest.importorskip("torch")
from localkube import local  # noqa: E402
from visionroll_serving.build import BuildResult  # noqa: E402


@pytest.fixture(scope="module")
def archives() -> BuildResult:
    return local.build_archives()


@pytest.fixture(scope="module")
def served(archives: BuildResult) -> Iterator[str]:
    """The directory of the built archives (digits-1.0.mar ...) over HTTP on loopback."""
    directory = archives.archive("1.0").parent
    handler = partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass


def run(tmp_path: Path, source: str, *, name: str = "digits", version: str) -> tuple[int, str, Path]:
    """(exit code, termination message, destination) of the program run as the init container runs it, with the
    system's python3 in isolated mode: the standard library alone."""
    dest, log = tmp_path / "model-store" / "digits.mar", tmp_path / "termination-log"
    dest.parent.mkdir(exist_ok=True)
    args = ["--model-name", name, "--model-version", version, "--termination-log", str(log), source, str(dest)]
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    done = subprocess.run([python, "-I", "-c", PROGRAM, *args], capture_output=True, text=True, timeout=60)
    return done.returncode, log.read_text() if log.exists() else "", dest


def test_the_archive_the_spec_names_is_installed(tmp_path: Path, served: str, archives: BuildResult) -> None:
    code, message, dest = run(tmp_path, f"{served}/digits-2.0.mar", version="2.0")
    assert (code, message) == (0, "")
    assert dest.read_bytes() == archives.archive("2.0").read_bytes()
    assert not dest.with_name("digits.mar.part").exists()


def test_an_archive_of_another_version_is_refused(tmp_path: Path, served: str) -> None:
    code, message, dest = run(tmp_path, f"{served}/digits-1.0.mar", version="2.0")
    assert code == fetch_program.EXIT_REFUSED
    assert message == (
        f"archive {served}/digits-1.0.mar is version '1.0' of model 'digits', but spec.model.version is '2.0'"
    )
    assert not dest.exists() and not dest.with_name("digits.mar.part").exists()


def test_an_archive_of_another_model_is_refused(tmp_path: Path, archives: BuildResult) -> None:
    # from a file, as the init container copies it from a mounted claim
    code, message, dest = run(tmp_path, str(archives.archive("3.0")), name="mnist", version="3.0")
    assert code == fetch_program.EXIT_REFUSED
    assert message.endswith("is model 'digits', but spec.model.name is 'mnist'")
    assert not dest.exists()


def test_a_missing_archive_is_named(tmp_path: Path, served: str) -> None:
    code, message, _ = run(tmp_path, f"{served}/digits-9.0.mar", version="9.0")
    assert code == fetch_program.EXIT_UNREACHABLE  # the kubelet tries again; a server that is down may come back
    assert message.startswith(f"cannot download {served}/digits-9.0.mar: HTTP Error 404")
    assert "\n" not in message


def _zip(tmp_path: Path, files: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path = tmp_path / "crafted.mar"
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (None, "not a model archive (.mar): not a zip file"),
        ({"handler.py": b""}, "not a model archive (.mar): it has no MAR-INF/MANIFEST.json"),
        ({"MAR-INF/MANIFEST.json": b"{"}, "MAR-INF/MANIFEST.json is not valid JSON"),
        ({"MAR-INF/MANIFEST.json": b"[]"}, "MAR-INF/MANIFEST.json has no 'model' object"),
        ({"MAR-INF/MANIFEST.json": b'{"model": {"modelVersion": "2.0"}}'}, "names no model (model.modelName)"),
        ({"MAR-INF/MANIFEST.json": b'{"model": {"modelName": "digits"}}'}, "gives no model version"),
    ],
    ids=["not-a-zip", "no-manifest", "bad-json", "no-model", "no-name", "no-version"],
)
def test_an_archive_that_is_no_model_archive_is_refused(
    tmp_path: Path, files: dict[str, bytes] | None, reason: str
) -> None:
    if files is None:
        path = tmp_path / "crafted.mar"
        path.write_bytes(b"<html>a login page</html>")
    else:
        path = _zip(tmp_path, files)
    with pytest.raises(fetch_program.Refused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        fetch_program.install(str(path), str(tmp_path / "digits.mar"), model_name="digits", model_version="2.0")
    assert not (tmp_path / "digits.mar").exists()


def test_the_manifest_is_read_as_torchserve_writes_it(archives: BuildResult) -> None:
    for version in ("1.0", "2.0", "3.0", "4.0"):
        path = archives.archive(version)
        assert fetch_program.manifest_model(str(path), path.name) == ("digits", version)
