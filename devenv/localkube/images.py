"""Build every image a pod of the local node runs, without any registry, and cache them by a hash of their inputs.

- `localhost/visionroll/python:3.11-slim-bookworm`: `debootstrap --variant=minbase bookworm` plus Debian's Python
  3.11, standing in for `python:3.11.14-slim-bookworm`, which both Dockerfiles are built on;
- `localhost/visionroll/pause:<PAUSE_VERSION>`: a static C program that waits for SIGINT/SIGTERM (the pod sandbox);
- `localhost/visionroll/golang:<go version>-bookworm`: the base plus this machine's Go toolchain, standing in for
  `golang:<go version>-bookworm`, which the router's Dockerfile builds in;
- `ghcr.io/visionroll/operator:<version>` from `Dockerfile`, `ghcr.io/visionroll/serving:<version>` from
  `serving/Dockerfile`, `ghcr.io/visionroll/router:<version>` from `serving/router/Dockerfile`: the names the
  chart, the operator and the API default to (visionroll.api.pods). The router's binary is also copied out of its
  image for routers run as local processes (`router_binary`).

Everything is built by Debian's buildah (1.28, run as root) into its own storage; the Dockerfiles get the base image
by `--build-arg PYTHON_IMAGE` and `--pull=never`, so nothing is ever pulled. Each image is then written to a
docker-archive (`docker save` format), which `import_into_containerd` hands to `ctr images import`:

- its layers are uncompressed. buildah 1.28 ignores `push --disable-compression` for OCI destinations and gzips every
  layer, which for gigabytes of torch costs minutes of one of our two cores and saves nothing on a local disk;
- its RepoTags carry the full image name, which containerd keeps as is (`io.containerd.image.name`), so the image
  is named in containerd exactly as here; an OCI archive's ref name is only a tag to containerd.

Layout (under ``cache_root()/images``)::

    <short>-<key>.tar    docker-archive of the image, e.g. serving-0123456789abcdef.tar
    <short>-<key>.json   name, key, image ID, size (written last: its presence means "done")
    build.log            the output of every command of the last builds
    .lock                held while building, so two processes never build at once

The key is a sha256 over everything the image is made of (package list and host apt sources for the base; the C
source for pause; the Dockerfile, its ignore file and every file of the build context that file admits, plus the
base's key, for the other two). A warm cache builds nothing and imports nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localkube.build import BuildError, cache_root, go_executable
from localkube.procs import stop_popens, tail
from visionroll.api import pods

# Bump to rebuild every image (e.g. after changing how they are made here).
IMAGES_VERSION = "1"

DEBIAN_RELEASE = "bookworm"  # Debian 12: its python3 is 3.11, like the python:3.11-slim-bookworm it stands in for
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
PAUSE_VERSION = "1.0"

BASE_IMAGE = f"localhost/visionroll/python:3.11-slim-{DEBIAN_RELEASE}"
PAUSE_IMAGE = f"localhost/visionroll/pause:{PAUSE_VERSION}"
# The names the chart, the operator's settings and the VisionModel API default to, so that what they generate runs
# as it is on a cluster that has these images (here: imported into the node's containerd, never pulled).
OPERATOR_IMAGE = pods.OPERATOR_IMAGE
SERVING_IMAGE = pods.SERVING_IMAGE
ROUTER_IMAGE = pods.ROUTER_IMAGE

REPO_ROOT = Path(__file__).resolve().parents[2]

# On the image in containerd (set by `import_into_containerd`) and, for the base, in buildah's storage.
KEY_LABEL = "io.visionroll.images.key"
BASE_KEY_LABEL = "io.visionroll.images.base-key"

# Host files that make RUN steps reach PyPI from here: trust anchors added locally (e.g. a TLS-inspecting egress
# proxy's CA). They go into the base image, so they are part of its key.
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")

_PAUSE_C = r"""
/* The pod sandbox's process: holds the pod's namespaces, reaps orphans, exits 0 on SIGINT/SIGTERM. */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;) {
        pause();
    }
}
"""
_PAUSE_CFLAGS = ("-static", "-Os", "-s", "-Wall", "-Werror")


class ImageBuildError(BuildError):
    pass


@dataclass(frozen=True)
class ImageInfo:
    name: str  # the full image name, e.g. localhost/visionroll/serving:dev
    archive: Path  # docker-archive for `ctr images import`
    key: str  # hash of the image's inputs; containerd's copy carries it as label KEY_LABEL
    size: int  # bytes of the archive (uncompressed layers: about the image's size)
    image_id: str  # sha256 of the archive's image config: the image ID crictl and the kubelet report
    build_seconds: float = 0.0  # 0 when it came from the cache


@dataclass(frozen=True)
class _Dockerfile:
    short: str
    name: str
    dockerfile: str  # relative to the repository root, which is the build context
    ignorefile: str
    go: bool = False  # built in the golang image (else in the Python base)


_OPERATOR = _Dockerfile("operator", OPERATOR_IMAGE, "Dockerfile", ".dockerignore")
_SERVING = _Dockerfile("serving", SERVING_IMAGE, "serving/Dockerfile", "serving/Dockerfile.dockerignore")
_ROUTER = _Dockerfile(
    "router", ROUTER_IMAGE, "serving/router/Dockerfile", "serving/router/Dockerfile.dockerignore", go=True
)
_DOCKERFILES = (_OPERATOR, _SERVING, _ROUTER)
ROUTER_BINARY = "/visionroll-router"  # in the router image


def image_names() -> list[str]:
    """The images pods run (what `import_into_containerd` imports), pause first."""
    return [PAUSE_IMAGE, OPERATOR_IMAGE, SERVING_IMAGE, ROUTER_IMAGE]


def images_dir() -> Path:
    return cache_root() / "images"


def _log(msg: str) -> None:
    print(f"[localkube] {msg}", file=sys.stderr, flush=True)


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            raise ImageBuildError(f"{tool} is not installed (apt-get install buildah debootstrap gcc)")


def _sha256(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


# --- running commands --------------------------------------------------------------------------------------------


class _Runner:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path

    def run(
        self,
        cmd: Sequence[str],
        *,
        cwd: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> str:
        """Run ``cmd``, appending its output to the log; return its stdout. ``progress`` sees each output line."""
        with self.log_path.open("a") as log:
            log.write(f"\n$ {'(cd ' + str(cwd) + ') ' if cwd else ''}{' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.Popen(
                list(cmd), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True
            )
            assert proc.stdout is not None
            out: list[str] = []
            try:
                for line in proc.stdout:
                    out.append(line)
                    log.write(line)
                    log.flush()  # the log is where a long build is watched
                    if progress is not None:
                        progress(line.rstrip("\n"))
                code = proc.wait()
            except BaseException:  # an interrupt (SIGTERM unwinds as KeyboardInterrupt) stops the command too
                stop_popens(proc)
                raise
        if code != 0:
            raise ImageBuildError(
                f"{' '.join(cmd)} failed (exit {code}); log {self.log_path}:\n{tail(self.log_path, 40)}"
            )
        return "".join(out)


def _buildah_inspect(name: str, template: str) -> str | None:
    """``template`` (a Go template) applied to image ``name`` in buildah's storage; None when there is no such
    image."""
    proc = subprocess.run(
        ["buildah", "inspect", "--type", "image", "--format", template, name], capture_output=True, text=True
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


@contextlib.contextmanager
def _working_container(run: _Runner, name: str, image: str = "scratch") -> Iterator[str]:
    """A buildah working container ``name`` from ``image``, removed afterwards (and beforehand, if a crash left
    one)."""
    subprocess.run(["buildah", "rm", name], capture_output=True)
    run.run(["buildah", "from", "--pull=never", "--name", name, image])
    try:
        yield name
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True)


# --- cache records ---------------------------------------------------------------------------------------------


def _paths(short: str, key: str) -> tuple[Path, Path]:
    return images_dir() / f"{short}-{key}.tar", images_dir() / f"{short}-{key}.json"


def _cached(short: str, key: str) -> ImageInfo | None:
    archive, meta = _paths(short, key)
    if not (meta.exists() and archive.exists()):
        return None
    data = json.loads(meta.read_text())
    return ImageInfo(
        name=data["name"], archive=archive, key=key, size=archive.stat().st_size, image_id=data["image_id"]
    )


def _archive_image_id(archive: Path, name: str) -> str:
    """The image ID (config digest) of ``name`` in a docker-archive, checking that the archive names it."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise ImageBuildError(f"{archive}: no manifest.json")
        (entry,) = json.load(member)
    if entry.get("RepoTags") != [name]:
        raise ImageBuildError(f"{archive}: tagged {entry.get('RepoTags')}, not [{name!r}]")
    config: str = entry["Config"]  # "<hex>.json"
    return "sha256:" + config.removesuffix(".json")


def _export(run: _Runner, short: str, name: str, key: str, t0: float) -> ImageInfo:
    """Write image ``name`` from buildah's storage to its archive and record it (its build began at ``t0``, a
    `time.monotonic()`); drop older archives of it."""
    archive, meta = _paths(short, key)
    part = archive.with_suffix(".tar.part")
    part.unlink(missing_ok=True)
    run.run(["buildah", "push", "--quiet", name, f"docker-archive:{part}:{name}"])
    os.replace(part, archive)
    info = ImageInfo(
        name=name,
        archive=archive,
        key=key,
        size=archive.stat().st_size,
        image_id=_archive_image_id(archive, name),
        build_seconds=time.monotonic() - t0,
    )
    record = {"name": name, "key": key, "image_id": info.image_id, "size": info.size}
    tmp = meta.with_suffix(".json.part")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, meta)
    for old in images_dir().glob(f"{short}-*"):
        if old not in (archive, meta):
            old.unlink(missing_ok=True)
    return info


# --- the base image ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def _host_apt_sources() -> list[_AptSource]:
    """The host's apt sources (one-line and deb822) that name the Debian release's own suites (bookworm,
    bookworm-updates, bookworm-security, ...); third-party repositories are left out."""
    apt = Path("/etc/apt")
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*"))]
    found: list[_AptSource] = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for para in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in para.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
                if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    found.append(
                        _AptSource(
                            uri, tuple(fields.get("suites", "").split()), tuple(fields.get("components", "").split())
                        )
                    )
        elif path.name == "sources.list" or path.suffix == ".list":
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    found.append(_AptSource(words[1], (words[2],), tuple(words[3:])))
    release = DEBIAN_RELEASE
    kept: list[_AptSource] = []
    for src in found:
        suites = tuple(s for s in src.suites if s == release or s.startswith(release + "-"))
        if suites:
            kept.append(_AptSource(src.uri.rstrip("/"), suites, src.components or ("main",)))
    return kept


def debian_mirror() -> str:
    """The Debian mirror this host's apt uses for the release itself (what debootstrap fetches from)."""
    for src in _host_apt_sources():
        if DEBIAN_RELEASE in src.suites:
            return src.uri
    raise ImageBuildError(
        f"no apt source for Debian {DEBIAN_RELEASE} in /etc/apt/sources.list or /etc/apt/sources.list.d/"
    )


def _image_apt_sources() -> str:
    """deb822 sources for the image: the host's Debian sources, checked against Debian's keyring (in minbase)."""
    paras = [
        f"Types: deb\nURIs: {s.uri}\nSuites: {' '.join(s.suites)}\nComponents: {' '.join(s.components)}\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        for s in _host_apt_sources()
    ]
    return "\n".join(paras)


def _host_cas() -> list[Path]:
    return sorted(p for p in HOST_CA_DIR.rglob("*.crt") if p.is_file()) if HOST_CA_DIR.is_dir() else []


def base_key() -> str:
    parts = [IMAGES_VERSION.encode(), BASE_IMAGE.encode(), DEBIAN_RELEASE.encode(), " ".join(BASE_PACKAGES).encode()]
    parts += [debian_mirror().encode(), _image_apt_sources().encode(), _BASE_SCRIPT.encode()]
    for ca in _host_cas():
        parts += [ca.name.encode(), ca.read_bytes()]
    return _sha256(*parts)


# Runs chrooted in the debootstrapped tree. python/pip resolve from /usr/local/bin as in the official image; pip may
# install into the system Python (no EXTERNALLY-MANAGED marker) as it may there.
_BASE_SCRIPT = """set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
apt-get update
apt-get upgrade -y
apt-get install -y --no-install-recommends {packages}
update-ca-certificates
for name in python python3; do ln -sf /usr/bin/python3 /usr/local/bin/$name; done
for name in pip pip3; do ln -sf /usr/bin/pip3 /usr/local/bin/$name; done
rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
/usr/local/bin/python -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 11), sys.version'
/usr/local/bin/pip --version
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/apt/* /var/log/*.log
"""


def _build_base(run: _Runner, key: str) -> ImageInfo:
    _need("debootstrap", "unshare", "chroot")
    t0 = time.monotonic()
    mirror = debian_mirror()
    work = images_dir() / "tmp" / f"base-{key}"
    shutil.rmtree(work, ignore_errors=True)
    rootfs = work / "rootfs"
    rootfs.mkdir(parents=True)
    try:
        _log(f"base: debootstrap --variant=minbase {DEBIAN_RELEASE} from {mirror}")
        # In a mount namespace of its own: whatever debootstrap or a package script mounts (proc, sys) goes away with
        # it, even on failure, so the tree can always be deleted.
        unshare = ["unshare", "--mount", "--propagation", "private"]
        run.run([*unshare, "debootstrap", "--variant=minbase", DEBIAN_RELEASE, str(rootfs), mirror])
        (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(_image_apt_sources())
        ca_dest = rootfs / HOST_CA_DIR.relative_to("/")
        ca_dest.mkdir(parents=True, exist_ok=True)
        for ca in _host_cas():
            shutil.copy2(ca, ca_dest / ca.name)
        (rootfs / "etc/resolv.conf").unlink(missing_ok=True)
        shutil.copy2("/etc/resolv.conf", rootfs / "etc/resolv.conf")
        _log(f"base: installing {' '.join(BASE_PACKAGES)}")
        script = _BASE_SCRIPT.format(packages=" ".join(BASE_PACKAGES))
        chroot = [*unshare, "--pid", "--fork", f"--mount-proc={rootfs / 'proc'}", "chroot", str(rootfs)]
        # With an environment of its own (the script sets what it needs): the host's would point the tree's
        # package scripts at paths it does not have (a host TMPDIR failed ca-certificates' postinst, and the build).
        run.run([*chroot, "/usr/bin/env", "-i", "HOME=/root", "/bin/sh", "-c", script])
        # What a container runtime provides, not an image: device nodes, resolv.conf, hostname.
        for sub in ("dev", "proc", "sys", "run", "tmp"):
            for child in (rootfs / sub).iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        for name in ("etc/resolv.conf", "etc/hostname"):
            (rootfs / name).unlink(missing_ok=True)
        with _working_container(run, "visionroll-images-base") as ctr:
            mnt = run.run(["buildah", "mount", ctr]).strip()
            run.run(["cp", "-a", f"{rootfs}/.", mnt])
            run.run(["buildah", "umount", ctr])
            run.run(
                [
                    "buildah",
                    "config",
                    "--env",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "--env",
                    "LANG=C.UTF-8",
                    "--cmd",
                    '["python3"]',
                    "--label",
                    f"org.opencontainers.image.description=Debian {DEBIAN_RELEASE} minbase + Python 3.11 (visionroll)",
                    "--label",
                    f"{BASE_KEY_LABEL}={key}",
                    ctr,
                ]
            )
            run.run(["buildah", "commit", "--quiet", ctr, BASE_IMAGE])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _export(run, "python", BASE_IMAGE, key, t0)


def _ensure_base_in_storage(run: _Runner, info: ImageInfo) -> None:
    """The Dockerfiles build FROM the base image in buildah's storage: restore it from its archive if it went."""
    if _buildah_inspect(BASE_IMAGE, f'{{{{index .OCIv1.Config.Labels "{BASE_KEY_LABEL}"}}}}') == info.key:
        return
    _log(f"base: loading {info.archive.name} into buildah's storage")
    image_id = run.run(["buildah", "pull", "--quiet", f"docker-archive:{info.archive}"]).strip().splitlines()[-1]
    run.run(["buildah", "tag", image_id, BASE_IMAGE])


# --- pause ---------------------------------------------------------------------------------------------------------


def pause_key() -> str:
    return _sha256(IMAGES_VERSION.encode(), PAUSE_IMAGE.encode(), _PAUSE_C.encode(), " ".join(_PAUSE_CFLAGS).encode())


def _build_pause(run: _Runner, key: str) -> ImageInfo:
    _need("gcc")
    t0 = time.monotonic()
    work = images_dir() / "tmp" / f"pause-{key}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        (work / "pause.c").write_text(_PAUSE_C)
        run.run(["gcc", *_PAUSE_CFLAGS, "-o", str(work / "pause"), str(work / "pause.c")])
        with _working_container(run, "visionroll-images-pause") as ctr:
            run.run(["buildah", "copy", "--quiet", "--chmod", "0755", ctr, str(work / "pause"), "/pause"])
            run.run(["buildah", "config", "--entrypoint", '["/pause"]', "--user", "65535:65535", ctr])
            run.run(["buildah", "commit", "--quiet", ctr, PAUSE_IMAGE])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _export(run, "pause", PAUSE_IMAGE, key, t0)


# --- golang --------------------------------------------------------------------------------------------------------


@functools.cache
def _goroot() -> Path:
    return Path(
        subprocess.run([go_executable(), "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    )


@functools.cache
def go_version() -> str:
    """This machine's Go, e.g. "1.26.8": the router's image is built with it."""
    out = subprocess.run([go_executable(), "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
    return out.strip().removeprefix("go")


def golang_image() -> str:
    return f"localhost/visionroll/golang:{go_version()}-{DEBIAN_RELEASE}"


def golang_key(base: str) -> str:
    return _sha256(
        IMAGES_VERSION.encode(), golang_image().encode(), base.encode(), (_goroot() / "VERSION").read_bytes()
    )


def _build_golang(run: _Runner, key: str, base: ImageInfo) -> ImageInfo:
    """The base plus this machine's Go toolchain in /usr/local/go, as the official golang image lays it out."""
    t0 = time.monotonic()
    _ensure_base_in_storage(run, base)
    name = golang_image()
    with _working_container(run, "visionroll-images-golang", BASE_IMAGE) as ctr:
        run.run(["buildah", "copy", "--quiet", ctr, str(_goroot()), "/usr/local/go"])
        path = "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        env = ["--env", f"PATH={path}", "--env", "GOPATH=/go", "--env", "GOTOOLCHAIN=local"]
        run.run(["buildah", "config", *env, "--workingdir", "/go", "--cmd", '["bash"]', ctr])
        run.run(["buildah", "commit", "--quiet", ctr, name])
    return _export(run, "golang", name, key, t0)


def _ensure_in_storage(run: _Runner, info: ImageInfo) -> None:
    """A Dockerfile builds FROM an image in buildah's storage: load it from its archive if it is not there."""
    if _buildah_inspect(info.name, "{{.FromImageID}}") is not None:
        return
    _log(f"loading {info.archive.name} into buildah's storage")
    run.run(["buildah", "pull", "--quiet", f"docker-archive:{info.archive}"])


# --- Dockerfile images ---------------------------------------------------------------------------------------------

_Rule = tuple[bool, "re.Pattern[str]", str]  # (is an exception "!...", compiled pattern, the pattern's text)


def _glob_regex(pattern: str) -> str:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression for fullmatch."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and "]" in pattern[i + 1 :]:
            j = pattern.index("]", i + 1)
            body = pattern[i + 1 : j]
            out.append("[" + ("^" + body[1:] if body.startswith("^") or body.startswith("!") else body) + "]")
            i = j + 1
            continue
        elif c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _ignore_rules(ignorefile: Path) -> list[_Rule]:
    rules: list[_Rule] = []
    for raw in ignorefile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = posixpath.normpath(line[1:].strip() if negate else line).lstrip("/")
        if line in ("", "."):
            continue
        rules.append((negate, re.compile(_glob_regex(line)), line))
    return rules


def _excluded(rel: str, rules: Sequence[_Rule]) -> bool:
    """Docker's rule: a pattern excludes a path when it matches the path or one of its parent directories; the last
    pattern that matches decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negate, rx, _ in rules:
        if any(rx.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def _may_readmit_below(rel: str, rules: Sequence[_Rule]) -> bool:
    """Whether an exception pattern could admit something below the excluded directory ``rel``."""
    parts = rel.split("/")
    for negate, _, text in rules:
        if not negate:
            continue
        pparts = text.split("/")
        if len(pparts) <= len(parts) and not any(c in text for c in "*?["):
            continue
        if all(any(c in pp for c in "*?[") or pp == p for pp, p in zip(pparts[: len(parts)], parts, strict=False)):
            return True
    return False


def context_files(root: Path, ignorefile: Path) -> list[str]:
    """Paths (relative, sorted) of the files of build context ``root`` that ``ignorefile`` admits."""
    rules = _ignore_rules(ignorefile)
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root).as_posix()
        keep: list[str] = []
        for d in dirnames:
            rel = d if base == "." else f"{base}/{d}"
            if d == "__pycache__" or (_excluded(rel, rules) and not _may_readmit_below(rel, rules)):
                continue
            keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = f if base == "." else f"{base}/{f}"
            if not f.endswith(".pyc") and not _excluded(rel, rules):
                files.append(rel)
    return sorted(files)


def dockerfile_key(spec: _Dockerfile, base: str, root: Path = REPO_ROOT) -> str:
    parts = [IMAGES_VERSION.encode(), spec.name.encode(), BASE_IMAGE.encode(), base.encode()]
    parts += [(root / spec.dockerfile).read_bytes(), (root / spec.ignorefile).read_bytes()]
    for rel in context_files(root, root / spec.ignorefile):
        path = root / rel
        st = path.lstat()
        link = stat.S_ISLNK(st.st_mode)
        content = os.readlink(path).encode() if link else hashlib.sha256(path.read_bytes()).digest()
        parts += [rel.encode(), str(st.st_mode & 0o111 != 0).encode(), content]
    return _sha256(*parts)


def _build_dockerfile(run: _Runner, spec: _Dockerfile, key: str) -> ImageInfo:
    t0 = time.monotonic()

    def progress(line: str) -> None:
        if re.match(r"(\[\d+/\d+\] )?STEP \d+/\d+", line):
            _log(f"{spec.short}: {line[:110]}")

    run.run(
        [
            "buildah",
            "bud",
            "--layers",
            # A failed step otherwise leaves its working container behind: with torch in it, gigabytes per failure.
            "--force-rm",
            "--pull=never",  # the base is ours, in buildah's storage; there is no registry to pull from
            # RUN steps in a chroot, not a runtime: Debian's crun refuses this host's hybrid cgroups ("cgroups in
            # hybrid mode not supported"), and a build needs no cgroup. They share the host's network, reaching apt
            # and PyPI like the host does.
            "--isolation=chroot",
            "--build-arg",
            f"GOLANG_IMAGE={golang_image()}" if spec.go else f"PYTHON_IMAGE={BASE_IMAGE}",
            "--file",
            spec.dockerfile,
            "--ignorefile",
            spec.ignorefile,
            "--tag",
            spec.name,
            ".",
        ],
        cwd=REPO_ROOT,
        progress=progress,
    )
    return _export(run, spec.short, spec.name, key, t0)


# --- public API ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    path = images_dir() / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ensure(short: str, name: str, key: str, build: Callable[[], ImageInfo]) -> ImageInfo:
    cached = _cached(short, key)
    if cached is not None:
        return cached
    _log(f"building {name} (key {key})")
    info = build()
    _log(f"built {name} in {info.build_seconds:.0f} s ({info.size / 1e6:.0f} MB)")
    return info


def ensure_images() -> dict[str, ImageInfo]:
    """Build whatever image is missing from the cache (none on a warm cache) and return every image by name: the
    base image and the three images pods run (`image_names()`)."""
    _need("buildah")
    with _lock():
        log_path = images_dir() / "build.log"
        run = _Runner(log_path)
        bkey, pkey = base_key(), pause_key()
        gkey = golang_key(bkey)
        keys = {"python": bkey, "pause": pkey, "golang": gkey}
        keys |= {s.short: dockerfile_key(s, gkey if s.go else bkey) for s in _DOCKERFILES}
        if any(_cached(short, key) is None for short, key in keys.items()):
            log_path.write_text("")  # a fresh log for this build
        base = _ensure("python", BASE_IMAGE, bkey, functools.partial(_build_base, run, bkey))
        result = {
            BASE_IMAGE: base,
            PAUSE_IMAGE: _ensure("pause", PAUSE_IMAGE, pkey, functools.partial(_build_pause, run, pkey)),
        }
        golang = _ensure("golang", golang_image(), gkey, functools.partial(_build_golang, run, gkey, base))
        result[golang.name] = golang
        for spec in _DOCKERFILES:
            key = keys[spec.short]
            if _cached(spec.short, key) is None:
                if spec.go:
                    _ensure_in_storage(run, golang)
                else:
                    _ensure_base_in_storage(run, base)
            result[spec.name] = _ensure(
                spec.short, spec.name, key, functools.partial(_build_dockerfile, run, spec, key)
            )
        _extract_router(run, result[ROUTER_IMAGE])
        shutil.rmtree(images_dir() / "tmp", ignore_errors=True)
        return result


@functools.cache
def router_binary() -> Path:
    """The router's binary as its image holds it, for routers run as local processes (tests, benchmarks); built
    with the images when missing."""
    info = ensure_images()[ROUTER_IMAGE]
    return images_dir() / f"bin-router-{info.key}" / "visionroll-router"


def _extract_router(run: _Runner, info: ImageInfo) -> None:
    dest = images_dir() / f"bin-router-{info.key}" / "visionroll-router"
    if dest.exists():
        return
    _ensure_in_storage(run, info)
    part = dest.with_name(dest.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    with _working_container(run, "visionroll-images-router-binary", info.name) as ctr:
        mnt = run.run(["buildah", "mount", ctr]).strip()
        try:
            shutil.copyfile(Path(mnt) / ROUTER_BINARY.lstrip("/"), part)
        finally:
            run.run(["buildah", "umount", ctr])
    part.chmod(0o755)
    part.rename(dest)
    for old in images_dir().glob("bin-router-*"):
        if old.is_dir() and old != dest.parent:
            shutil.rmtree(old, ignore_errors=True)


def containerd_keys(ctr: Path, address: str, namespace: str) -> dict[str, str]:
    """Image name -> its KEY_LABEL ("" when it has none), for every image in that containerd namespace."""
    cmd = [str(ctr), "--address", address, "--namespace", namespace, "images", "ls"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise ImageBuildError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr.strip()}")
    found: dict[str, str] = {}
    # REF TYPE DIGEST SIZE PLATFORMS LABELS; SIZE has a space ("198.0 MiB"), LABELS is "-" or "k=v,k=v" (sorted).
    for line in proc.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 3:
            continue
        labels = dict(pair.split("=", 1) for pair in cols[-1].split(",") if "=" in pair)
        found[cols[0]] = labels.get(KEY_LABEL, "")
    return found


def import_into_containerd(
    ctr: Path, address: str, namespace: str = "k8s.io", *, images: Mapping[str, ImageInfo] | None = None
) -> None:
    """Import every image pods run (``images``, by default `ensure_images()`) into the containerd at ``address``,
    under its own name, unless an image of that name with the same key is there already: a warm start imports
    nothing. Pods then use them with `imagePullPolicy: Never`."""
    infos = ensure_images() if images is None else images
    present = containerd_keys(ctr, address, namespace)
    run = _Runner(images_dir() / "import.log")
    images_cmd = [str(ctr), "--address", address, "--namespace", namespace, "images"]
    for name in image_names():
        info = infos[name]
        if present.get(name) == info.key:
            continue
        t0 = time.monotonic()
        # --base-name: import only what the archive names under this repository (its RepoTags: the full name).
        repo = name.rsplit(":", 1)[0]
        run.run([*images_cmd, "import", "--base-name", repo, "--label", f"{KEY_LABEL}={info.key}", str(info.archive)])
        present = containerd_keys(ctr, address, namespace)
        if (got := present.get(name)) != info.key:
            raise ImageBuildError(
                f"after importing {info.archive}, containerd has {name} with key {got!r}, not {info.key}; "
                f"log {run.log_path}:\n{tail(run.log_path)}"
            )
        _log(f"imported {name} into containerd in {time.monotonic() - t0:.1f} s")
    _remove_stale(run, [*images_cmd, "rm", "--sync"], present, infos)


def _remove_stale(run: _Runner, rm: list[str], present: Mapping[str, str], infos: Mapping[str, ImageInfo]) -> None:
    """Remove (with the command ``rm``) every image in ``present`` that is not one pods run now. An import under a
    name replaces only that name: the kubelet's runtime also names each image by its ID (``sha256:<config digest>``),
    and those names of earlier builds would keep their layers and unpacked snapshots (gigabytes per serving build)
    for ever. Removing a name frees only what no other image and no container uses."""
    keep = set(image_names()) | {infos[name].image_id for name in image_names()}
    stale = sorted(set(present) - keep)
    if not stale:
        return
    t0 = time.monotonic()
    run.run([*rm, *stale])
    _log(f"removed {len(stale)} images of earlier builds from containerd in {time.monotonic() - t0:.1f} s")


def cmd_images(args: argparse.Namespace | None = None) -> int:
    """`python -m localkube images`: build what is missing, then print each image's name, size and build time."""
    t0 = time.monotonic()
    infos = ensure_images()
    _log(f"images step took {time.monotonic() - t0:.1f} s")
    for name, info in infos.items():
        built = f"built in {info.build_seconds:.0f} s" if info.build_seconds else "cached"
        print(f"{name}  {info.size / 1e6:.0f} MB  {built}  {info.archive}")
    return 0
