"""spec.model.digest in the fetch-model init container: the archive's bytes must hash to it. Run as the container runs
it (`python3 -I -c <program> ...`) against a real HTTP server on loopback, on the digits archives this project
builds; a mismatch exits with the "refused" code, installs nothing, and says both digests in one line."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from visionroll.workloads import fetch_program
from visionroll.workloads.storage import PROGRAM, HttpArchive, fetch_container

pytest.importorskip("torch")
from localkube import local  # noqa: E402
from visionroll_serving.build import BuildResult  # noqa: E402


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def archives() -> BuildResult:
    return local.build_archives()


@pytest.fixture(scope="module")
def served(archives: BuildResult) -> Iterator[str]:
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(archives.archive("1.0").parent))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def run(tmp_path: Path, source: str, *, version: str, digest: str | None) -> tuple[int, str, str, Path]:
    """(exit code, termination message, stdout, destination), with the system's python3 in isolated mode."""
    dest, log = tmp_path / "model-store" / "digits.mar", tmp_path / "termination-log"
    dest.parent.mkdir(exist_ok=True)
    args = ["--model-name", "digits", "--model-version", version, "--termination-log", str(log)]
    args += ["--digest", digest] if digest else []
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    done = subprocess.run([python, "-I", "-c", PROGRAM, *args, source, str(dest)], capture_output=True, text=True)
    return done.returncode, log.read_text() if log.exists() else "", done.stdout, dest


def test_an_archive_with_the_specs_digest_is_installed(tmp_path: Path, served: str, archives: BuildResult) -> None:
    digest = _digest(archives.archive("2.0"))
    code, message, out, dest = run(tmp_path, f"{served}/digits-2.0.mar", version="2.0", digest=digest)
    assert (code, message) == (0, "")
    assert digest in out
    assert dest.read_bytes() == archives.archive("2.0").read_bytes()


def test_an_archive_with_another_digest_is_refused_and_nothing_is_installed(
    tmp_path: Path, served: str, archives: BuildResult
) -> None:
    # The URL serves 2.0's bytes, a valid archive of the spec's model and version; the spec pins other bytes (as
    # when a file on the server was replaced).
    expected = _digest(archives.archive("1.0"))
    url = f"{served}/digits-2.0.mar"
    code, message, _, dest = run(tmp_path, url, version="2.0", digest=expected)
    assert code == fetch_program.EXIT_REFUSED
    assert message == (
        f"archive {url} has digest {_digest(archives.archive('2.0'))}, but spec.model.digest is {expected}: "
        "refusing to serve an archive that is not the one published"
    )
    assert not dest.exists() and not dest.with_name("digits.mar.part").exists()


def test_the_digest_is_checked_before_the_manifest(tmp_path: Path, archives: BuildResult) -> None:
    """A file that is not even a zip is refused for its digest first: nothing of an unverified archive is parsed."""
    junk = tmp_path / "junk.mar"
    junk.write_bytes(b"<html>a login page</html>")
    code, message, _, _ = run(tmp_path, str(junk), version="2.0", digest=_digest(archives.archive("2.0")))
    assert code == fetch_program.EXIT_REFUSED
    assert "has digest sha256:" in message and "not a zip" not in message


def test_the_init_container_passes_the_digest_only_when_the_spec_has_one() -> None:
    digest = "sha256:" + "0" * 64
    common = {"image": "i", "model_name": "digits", "model_version": "2.0", "security_context": {}}
    with_digest, _ = fetch_container(HttpArchive("http://h/d.mar"), digest=digest, **common)  # type: ignore[arg-type]
    without, _ = fetch_container(HttpArchive("http://h/d.mar"), **common)  # type: ignore[arg-type]
    args = with_digest["args"]
    assert args[args.index("--digest") + 1] == digest
    assert "--digest" not in without["args"]
