"""The program the `fetch-model` init container runs: fetch the model archive into the model store, and refuse one
that is not the model the spec names.

It runs in the serving image (`spec.serving.image`, any TorchServe image), so it uses Python's standard library
alone and runs on Python 3.8 or later; the operator ships this file's text in the container's args
(`python3 -c <this file> ...`, see storage.py), so nothing has to be installed in the image. Tests import it as a
module and also run it the way the container does.

The archive is a zip whose `MAR-INF/MANIFEST.json` names the model (`model.modelName`) and its version
(`model.modelVersion`); TorchServe registers it under those, and the router asks for `spec.model.name` at
`spec.model.version`. An archive that says otherwise would load and then answer 404 to every request, so it is
refused here: the pod never starts serving it, and the reason is one line in the container's termination message
(`/dev/termination-log`), where the operator reads it from the pod's status.

With `--digest sha256:<hex>` (spec.model.digest) the archive's bytes must hash to it, checked before anything reads
the zip: a model archive is code (its handler runs in TorchServe), and over plain http:// the digest is the only
thing that says the bytes are the ones the author published. A mismatch is refused like a wrong version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import urllib.request
import zipfile

MANIFEST = "MAR-INF/MANIFEST.json"
TIMEOUT_SECONDS = 60
MAX_MESSAGE = 1000  # the kubelet keeps 4096 bytes of a termination message; one line is plenty


# Exit codes: the kubelet restarts a failed init container, and the operator reads the code to tell a fetch that may
# work next time (a network error, a server that is down) from an archive that never will (wrong model or version).
EXIT_UNREACHABLE = 1
EXIT_REFUSED = 3


class Refused(Exception):
    """The archive cannot be served as the spec's model; the message is the one-line reason."""


class Unreachable(Refused):
    """The archive could not be fetched this time; trying again may work."""


def fetch(source: str, part: str) -> None:
    """Writes the archive at `source` (an http(s) URL, or a file path in a mounted claim) to `part`."""
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=TIMEOUT_SECONDS) as answer, open(part, "wb") as out:
                shutil.copyfileobj(answer, out, 1 << 20)
        except (OSError, ValueError) as exc:  # urllib's HTTPError and URLError are OSErrors
            raise Unreachable(f"cannot download {source}: {exc}") from None
    else:
        try:
            shutil.copyfile(source, part)
        except OSError as exc:
            raise Unreachable(f"cannot copy {source}: {exc.strerror or exc}") from None


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as archive:
        for block in iter(lambda: archive.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def check_digest(path: str, source: str, expected: str) -> None:
    """Refused unless the file at `path` hashes to `expected` ("sha256:<64 hex>")."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise Refused(
            f"archive {source} has digest {actual}, but spec.model.digest is {expected}: "
            "refusing to serve an archive that is not the one published"
        )


def manifest_model(path: str, source: str) -> tuple[str, str]:
    """(modelName, modelVersion) from the archive's manifest; Refused naming what is missing."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
    except zipfile.BadZipFile:
        raise Refused(f"archive {source} is not a model archive (.mar): not a zip file") from None
    except KeyError:
        raise Refused(f"archive {source} is not a model archive (.mar): it has no {MANIFEST}") from None
    except ValueError as exc:  # JSON and UTF-8 decoding errors
        raise Refused(f"archive {source}: {MANIFEST} is not valid JSON: {exc}") from None
    model = manifest.get("model") if isinstance(manifest, dict) else None
    if not isinstance(model, dict):
        raise Refused(f"archive {source}: {MANIFEST} has no 'model' object")
    name, version = model.get("modelName"), model.get("modelVersion")
    if not isinstance(name, str) or not name:
        raise Refused(f"archive {source}: {MANIFEST} names no model (model.modelName)")
    if not isinstance(version, str) or not version:
        raise Refused(f"archive {source}: {MANIFEST} gives no model version (model.modelVersion)")
    return name, version


def check(path: str, source: str, *, model_name: str, model_version: str) -> None:
    """Refused unless the archive at `path` is model `model_name` at version `model_version`."""
    name, version = manifest_model(path, source)
    if version != model_version:
        raise Refused(
            f"archive {source} is version {version!r} of model {name!r}, but spec.model.version is {model_version!r}"
        )
    if name != model_name:
        raise Refused(f"archive {source} is model {name!r}, but spec.model.name is {model_name!r}")


def install(source: str, dest: str, *, model_name: str, model_version: str, digest: str | None = None) -> None:
    """Fetches, checks, then renames into place: TorchServe never sees a partial or refused archive."""
    part = dest + ".part"
    try:
        fetch(source, part)
        if digest:
            check_digest(part, source, digest)
        if os.path.getsize(part) == 0:
            raise Refused(f"archive {source} is empty")
        check(part, source, model_name=model_name, model_version=model_version)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise
    os.replace(part, dest)


def _report(reason: str, termination_log: str | None) -> None:
    line = " ".join(reason.split())[:MAX_MESSAGE]
    print(line, file=sys.stderr)
    if termination_log:
        try:
            with open(termination_log, "w") as log:
                log.write(line)
        except OSError as exc:
            print(f"cannot write {termination_log}: {exc}", file=sys.stderr)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fetch-model", description="Fetch and check a model archive.")
    parser.add_argument("source", help="http(s) URL of the archive, or its path in a mounted claim")
    parser.add_argument("dest", help="path of the archive in the model store")
    parser.add_argument("--model-name", required=True, help="spec.model.name")
    parser.add_argument("--model-version", required=True, help="spec.model.version")
    parser.add_argument("--digest", help="spec.model.digest: sha256:<64 hex> the archive must hash to")
    parser.add_argument("--termination-log", help="where the one-line reason of a failure goes")
    args = parser.parse_args(argv)
    try:
        install(
            args.source, args.dest, model_name=args.model_name, model_version=args.model_version, digest=args.digest
        )
    except Refused as exc:
        _report(str(exc), args.termination_log)
        return EXIT_UNREACHABLE if isinstance(exc, Unreachable) else EXIT_REFUSED
    checked = f", {args.digest}" if args.digest else ", no digest given"
    print(f"fetched {args.source} (model {args.model_name!r}, version {args.model_version!r}{checked}) to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
