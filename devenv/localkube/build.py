"""Build the pinned control-plane binaries from Go modules into a cache keyed by version.

Layout (``$VISIONROLL_CACHE`` or ``~/.cache/visionroll``)::

    bin/<component>-<version>/<binary>     e.g. bin/kube-apiserver-v1.36.3/kube-apiserver
    bin/kwok-v0.8.0/stages/*.yaml          kwok stage definitions copied from the kwok module
    build/<wrapper>-<version>/go.mod       generated wrapper modules (never in the repository)
    build/build.log                        go's output of the last build

A binary is moved into place only after it built, so its presence means "done": a warm cache skips the build.
GOMODCACHE and GOCACHE are left to Go's defaults so downloads and compiled packages are reused between builds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from localkube import versions
from localkube.procs import tail


class BuildError(RuntimeError):
    pass


def cache_root() -> Path:
    return Path(os.environ.get("VISIONROLL_CACHE", str(Path.home() / ".cache" / "visionroll")))


def bin_dir(component: str, version: str) -> Path:
    return cache_root() / "bin" / f"{component}-{version}"


@dataclass(frozen=True)
class BinPaths:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kubelet: Path
    kube_proxy: Path
    kwok: Path
    kwok_stages: Path
    helm: Path
    containerd: Path
    ctr: Path
    containerd_shim: Path
    runc: Path
    crictl: Path
    coredns: Path
    metrics_server: Path
    kube_router: Path

    def kube_commands(self) -> dict[str, Path]:
        """The binaries built from the k8s.io/kubernetes module, by command name (k8s.io/kubernetes/cmd/<name>)."""
        return {
            "kube-apiserver": self.kube_apiserver,
            "kube-controller-manager": self.kube_controller_manager,
            "kube-scheduler": self.kube_scheduler,
            "kubectl": self.kubectl,
            "kubelet": self.kubelet,
            "kube-proxy": self.kube_proxy,
        }

    def in_kubernetes_wrapper(self) -> dict[str, Path]:
        """What the Kubernetes wrapper module builds (``_wrapper_tools``), by binary name: every binary but
        containerd's (``_build_containerd``) and runc (cgo, ``_build_runc``)."""
        return {
            **self.kube_commands(),
            "etcd": self.etcd,
            "metrics-server": self.metrics_server,
            "kwok": self.kwok,
            "helm": self.helm,
            "coredns": self.coredns,
            "crictl": self.crictl,
            "kube-router": self.kube_router,
        }

    def node_tools(self) -> list[Path]:
        """What a real node needs besides the kubelet and kube-proxy."""
        return [
            self.containerd,
            self.ctr,
            self.containerd_shim,
            self.runc,
            self.crictl,
            self.coredns,
            self.metrics_server,
            self.kube_router,
        ]

    def missing(self) -> list[Path]:
        paths = [self.etcd, *self.kube_commands().values(), self.kwok, self.helm, *self.node_tools()]
        return [p for p in paths if not os.access(p, os.X_OK)]


def bin_paths() -> BinPaths:
    k = versions.KUBERNETES
    containerd = bin_dir("containerd", versions.CONTAINERD)
    return BinPaths(
        etcd=bin_dir("etcd", f"{versions.ETCD}-kubernetes-{k}") / "etcd",
        kube_apiserver=bin_dir("kube-apiserver", k) / "kube-apiserver",
        kube_controller_manager=bin_dir("kube-controller-manager", k) / "kube-controller-manager",
        kube_scheduler=bin_dir("kube-scheduler", k) / "kube-scheduler",
        kubectl=bin_dir("kubectl", k) / "kubectl",
        kubelet=bin_dir("kubelet", k) / "kubelet",
        kube_proxy=bin_dir("kube-proxy", k) / "kube-proxy",
        kwok=bin_dir("kwok", f"{versions.KWOK}-kubernetes-{k}") / "kwok",
        kwok_stages=bin_dir("kwok", f"{versions.KWOK}-kubernetes-{k}") / "stages",
        helm=bin_dir("helm", f"{versions.HELM}-kubernetes-{k}") / "helm",
        containerd=containerd / "containerd",
        ctr=containerd / "ctr",
        containerd_shim=containerd / "containerd-shim-runc-v2",
        runc=bin_dir("runc", versions.RUNC) / "runc",
        crictl=bin_dir("crictl", f"{versions.CRI_TOOLS}-kubernetes-{k}") / "crictl",
        coredns=bin_dir("coredns", "-".join((versions.COREDNS, *versions.COREDNS_PLUGINS)) + f"-kubernetes-{k}")
        / "coredns",
        metrics_server=bin_dir("metrics-server", f"{versions.METRICS_SERVER}-kubernetes-{k}") / "metrics-server",
        kube_router=bin_dir("kube-router", f"{versions.KUBE_ROUTER}-kubernetes-{k}") / "kube-router",
    )


def go_executable() -> str:
    found = shutil.which("go")
    if found:
        return found
    if os.access("/usr/local/go/bin/go", os.X_OK):
        return "/usr/local/go/bin/go"
    raise BuildError("Go is not installed (need Go >= 1.26 on PATH or at /usr/local/go/bin/go)")


def _log(msg: str) -> None:
    print(f"[localkube] {msg}", file=sys.stderr, flush=True)


class _Go:
    def __init__(self, log_path: Path) -> None:
        self.exe = go_executable()
        self.log_path = log_path
        self.env = dict(os.environ)
        self.env["CGO_ENABLED"] = "0"
        self.env.setdefault("GOFLAGS", "-buildvcs=false")
        # GOMODCACHE / GOCACHE deliberately untouched: Go's defaults are shared with every other build.

    def run(self, args: Sequence[str], cwd: Path, extra_env: dict[str, str] | None = None) -> str:
        env = dict(self.env)
        if extra_env:
            env.update(extra_env)
        cmd = [self.exe, *args]
        with self.log_path.open("a") as log:
            log.write(f"\n$ (cd {cwd}) {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
            log.write(proc.stdout)
        if proc.returncode != 0:
            raise BuildError(
                f"{' '.join(cmd)} failed (exit {proc.returncode}); log {self.log_path}:\n{tail(self.log_path, 40)}"
            )
        return proc.stdout

    def module_info(self, module_at_version: str) -> dict[str, str]:
        out = self.run(["mod", "download", "-json", module_at_version], cwd=Path(tempfile.gettempdir()))
        info: dict[str, str] = json.loads(out)
        return info


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    lock_path = cache_root() / "build" / ".lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_date() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _install_file(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    shutil.copy2(src, tmp)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)


def _go_directives(gomod: str) -> list[str]:
    """The `go` and `godebug` directives of a go.mod file (single-line and block forms)."""
    lines: list[str] = []
    in_godebug = False
    for raw in gomod.splitlines():
        line = raw.strip()
        if in_godebug:
            lines.append(raw)
            if line == ")":
                in_godebug = False
        elif re.match(r"^go \d", line):
            lines.append(line)
        elif line.startswith("godebug ("):
            lines.append(line)
            in_godebug = True
        elif line.startswith("godebug "):
            lines.append(line)
    return lines


def _staging_modules(kubernetes_gomod: str) -> list[str]:
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", kubernetes_gomod, re.MULTILINE)))


def _kube_ldflags(version: str) -> str:
    m = re.match(r"^v(\d+)\.(\d+)\.\d+", version)
    if not m:
        raise BuildError(f"unexpected Kubernetes version {version!r}")
    major, minor = m.group(1), m.group(2)
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitCommit=",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={_build_date()}",
        ]
    return " ".join(flags)


def _timed(name: str, version: str, times: dict[str, float], fn: object) -> None:
    assert callable(fn)
    start = time.monotonic()
    _log(f"building {name} {version} ...")
    fn()
    times[name] = time.monotonic() - start
    _log(f"built {name} {version} in {times[name]:.1f} s")


def _requirements(gomod: str) -> dict[str, str]:
    """Module -> version of every ``require`` in a go.mod (single-line and block forms)."""
    found: dict[str, str] = {}
    in_block = False
    for raw in gomod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                module, version = line.split()[:2]
                found[module] = version
        elif line == "require (":
            in_block = True
        elif line.startswith("require "):
            module, version = line.split()[1:3]
            found[module] = version
    return found


@dataclass(frozen=True)
class _Tool:
    """A main package the Kubernetes wrapper module builds, linked with ``ldflags``: a dependency's own
    (``go get -tool package@version``), or, with ``main``, one generated into the wrapper as ``./<name>`` that imports
    ``package``'s module at ``version``."""

    package: str
    version: str
    ldflags: str
    main: str = ""
    imports: tuple[str, ...] = ()  # the packages of ``package``'s module that ``main`` imports

    def get(self) -> list[str]:
        """What ``go get`` adds for this tool (with -tool for a dependency's own main package)."""
        if not self.main:
            return [f"{self.package}@{self.version}"]
        return [f"{p}@{self.version}" for p in self.imports]


def _wrapper_tools() -> dict[str, _Tool]:
    """What the Kubernetes wrapper module builds, by binary name: the Kubernetes commands, and the Go programs that
    share their libraries (crictl, kube-router, metrics-server, kwok, helm, CoreDNS with the plugins the node's
    Corefile uses: clients of client-go or the CRI; etcd: the server of the API server's etcd client)."""
    k = versions.KUBERNETES
    kube = _kube_ldflags(k)
    tools = {b: _Tool(f"k8s.io/kubernetes/cmd/{b}", k, kube) for b in versions.KUBE_BINARIES}
    tools["etcd"] = _Tool("go.etcd.io/etcd/server/v3", versions.ETCD, "-s -w")
    # metrics-server reports client-go's version variables (its Makefile sets them), not a package of its own.
    cv = "k8s.io/client-go/pkg/version"
    ms = versions.METRICS_SERVER
    tools["metrics-server"] = _Tool(
        "sigs.k8s.io/metrics-server/cmd/metrics-server",
        ms,
        f"-s -w -X {cv}.gitVersion={ms} -X {cv}.buildDate={_build_date()}",
    )
    kwok = "sigs.k8s.io/kwok/pkg/consts"
    tools["kwok"] = _Tool(
        "sigs.k8s.io/kwok/cmd/kwok",
        versions.KWOK,
        f"-s -w -X {kwok}.Version={versions.KWOK} -X {kwok}.KubeVersion={k.lstrip('v')}",
    )
    major = versions.HELM.split(".")[0]  # v3 / v4
    helm = "helm.sh/helm" if major in ("v0", "v1") else f"helm.sh/helm/{major}"
    minor = k.split(".")[1]  # helm is built against this Kubernetes' client libraries
    helm_flags = [
        f"-X {helm}/internal/version.version={versions.HELM}",
        f"-X {helm}/internal/version.gitTreeState=clean",
    ]
    for pkg in ("pkg/lint/rules", "pkg/chartutil"):
        helm_flags += [f"-X {helm}/{pkg}.k8sVersionMajor=1", f"-X {helm}/{pkg}.k8sVersionMinor={minor}"]
    tools["helm"] = _Tool(f"{helm}/cmd/helm", versions.HELM, " ".join(["-s -w", *helm_flags]))
    plugins = versions.COREDNS_PLUGINS
    tools["coredns"] = _Tool(
        "github.com/coredns/coredns",
        versions.COREDNS,
        "-s -w",
        main=_coredns_main(plugins),
        imports=(*COREDNS_CORE, *_coredns_plugin_packages(plugins)),
    )
    crictl = versions.CRI_TOOLS
    tools["crictl"] = _Tool(
        "sigs.k8s.io/cri-tools/cmd/crictl", crictl, f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={crictl}"
    )
    kr, kr_version = "github.com/cloudnativelabs/kube-router/v2", versions.KUBE_ROUTER
    tools["kube-router"] = _Tool(
        f"{kr}/cmd/kube-router",
        kr_version,
        f"-s -w -X {kr}/pkg/version.Version={kr_version} -X {kr}/pkg/version.BuildDate={_build_date()}",
    )
    return tools


def _overridden_pins(tools: dict[str, _Tool], pinned: dict[str, str]) -> list[str]:
    """The tools whose own module Kubernetes pins at another version than the tool's: the wrapper's replace would
    build that version instead, under the tool's name."""
    return [
        f"{name} {tool.version}: k8s.io/kubernetes {versions.KUBERNETES} pins {module} {pinned[module]}"
        for name, tool in tools.items()
        for module in pinned
        if (tool.package == module or tool.package.startswith(module + "/")) and pinned[module] != tool.version
    ]


WRAPPER_MODULE = "localkube.invalid/kubernetes-wrapper"


def _main_package(name: str, tool: _Tool) -> str:
    """The main package that builds binary ``name``: the tool's own, or the one generated into the wrapper."""
    return f"{WRAPPER_MODULE}/{name}" if tool.main else tool.package


def _kubernetes_wrapper(go: _Go, tools: dict[str, _Tool]) -> Path:
    """The generated module that builds ``tools``: the Kubernetes commands and the clients of their libraries.

    metrics-server, kwok, helm, CoreDNS, crictl and kube-router are clients of the Kubernetes libraries (client-go,
    apimachinery, the CRI), etcd the server of the API server's etcd client. Each built in its own module compiled
    those again at its own pins; built here, they are compiled once for all.
    Kubernetes' own pins win: every module k8s.io/kubernetes requires is replaced by the version it requires, so the
    other tools change no dependency of the Kubernetes commands.
    """
    version = versions.KUBERNETES
    staging_version = "v0" + version[version.index(".") :]  # v1.36.3 -> v0.36.3
    wrapper = cache_root() / "build" / f"kubernetes-{version}"
    wrapper.mkdir(parents=True, exist_ok=True)
    own = [g for t in tools.values() if not t.main for g in t.get()]
    generated = [g for t in tools.values() if t.main for g in t.get()]
    header = "// Generated by localkube: " + " ".join([*own, *generated])
    gomod_path = wrapper / "go.mod"
    if gomod_path.exists() and (wrapper / "go.sum").exists() and header in gomod_path.read_text():
        return wrapper
    k8s_mod = Path(go.module_info(f"k8s.io/kubernetes@{version}")["GoMod"]).read_text()
    staging = _staging_modules(k8s_mod)
    if not staging:
        raise BuildError("found no ./staging replace directives in k8s.io/kubernetes go.mod")
    pinned = {m: v for m, v in _requirements(k8s_mod).items() if m not in staging}
    overridden = _overridden_pins(tools, pinned)
    if overridden:
        raise BuildError(f"pin these versions in localkube/versions.py: {'; '.join(overridden)}")
    apiserver_mod = Path(go.module_info(f"k8s.io/apiserver@{staging_version}")["GoMod"]).read_text()
    gomod = [
        header,
        f"module {WRAPPER_MODULE}",
        "",
        *_go_directives(apiserver_mod),
        "",
        f"require k8s.io/kubernetes {version}",
        "",
        "replace (",
        *[f"\t{m} => {m} {staging_version}" for m in staging],
        *[f"\t{m} => {m} {v}" for m, v in sorted(pinned.items())],
        ")",
        "",
    ]
    gomod_path.write_text("\n".join(gomod))
    (wrapper / "go.sum").unlink(missing_ok=True)
    go.run(["get", "-tool", *own], wrapper)
    if generated:
        go.run(["get", *generated], wrapper)
    return wrapper


def _exe_name(package: str) -> str:
    """The file name ``go build -o DIR/`` gives a main package's binary: its last path element, or the one before
    a major-version suffix (go.etcd.io/etcd/server/v3 -> server)."""
    parts = package.split("/")
    if len(parts) > 1 and re.fullmatch(r"v[2-9]\d*", parts[-1]):
        return parts[-2]
    return parts[-1]


def _build_in_wrapper(go: _Go, wanted: dict[str, Path], times: dict[str, float]) -> None:
    """Build what ``wanted`` names (binary name -> where it goes; names of ``_wrapper_tools``) in the Kubernetes
    wrapper module, in one ``go build``: Go shares the packages and keeps both cores busy, linking one binary while
    compiling the next (one build per binary left a core idle at each link). Each binary gets its own ldflags by
    package pattern."""
    tools = _wrapper_tools()
    start = time.monotonic()
    wrapper = _kubernetes_wrapper(go, tools)
    times["kubernetes wrapper module + downloads"] = time.monotonic() - start
    out = wrapper / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    packages = {name: _main_package(name, tools[name]) for name in wanted}
    for name in wanted:
        if tools[name].main:
            (wrapper / name).mkdir(exist_ok=True)
            (wrapper / name / "main.go").write_text(tools[name].main)
    ldflags = [f"-ldflags={packages[name]}={tools[name].ldflags}" for name in wanted]

    def build() -> None:
        go.run(["build", "-trimpath", *ldflags, "-o", f"{out}/", *packages.values()], wrapper)
        for name, dest in wanted.items():
            _install_file(out / _exe_name(packages[name]), dest)
        shutil.rmtree(out)

    _timed(f"{len(wanted)} binaries of the wrapper ({', '.join(wanted)})", versions.KUBERNETES, times, build)
    if "kwok" in wanted:
        _copy_kwok_stages(go)


def _go_install(
    go: _Go, pkg_at_version: str | Sequence[str], ldflags: str, dest: Path | Sequence[Path], *, cgo_tags: str = ""
) -> None:
    """``go install`` one or more packages of one module version; each binary goes to its ``dest`` (by file name).
    ``cgo_tags``: build with cgo and these tags (runc needs libseccomp)."""
    pkgs = [pkg_at_version] if isinstance(pkg_at_version, str) else list(pkg_at_version)
    dests = [dest] if isinstance(dest, Path) else list(dest)
    extra = {"GOBIN": ""}
    flags = ["-trimpath", "-ldflags", ldflags]
    if cgo_tags:
        extra["CGO_ENABLED"] = "1"
        flags += ["-tags", cgo_tags]
    with tempfile.TemporaryDirectory(prefix="localkube-gobin-") as gobin:
        extra["GOBIN"] = gobin
        go.run(["install", *flags, *pkgs], Path(gobin), extra_env=extra)
        for d in dests:
            _install_file(Path(gobin) / d.name, d)


def _want(force: bool, *paths: Path) -> bool:
    return force or any(not os.access(p, os.X_OK) for p in paths)


def _build_containerd(go: _Go, force: bool, times: dict[str, float]) -> None:
    """containerd, ctr and the runc shim. Built first: `localkube bins` imports the images into the node's containerd
    as soon as both are built, beside the rest of the Go build (localkube.node.preload_images)."""
    paths = bin_paths()
    if _want(force, paths.containerd, paths.ctr, paths.containerd_shim):
        v = versions.CONTAINERD
        mod = "github.com/containerd/containerd/v2"
        flags = f"-s -w -X {mod}/version.Version={v} -X {mod}/version.Package={mod}"
        cmds = ("containerd", "ctr", "containerd-shim-runc-v2")
        dests = (paths.containerd, paths.ctr, paths.containerd_shim)
        _timed("containerd", v, times, lambda: _go_install(go, [f"{mod}/cmd/{c}@{v}" for c in cmds], flags, dests))


def _build_runc(go: _Go, force: bool, times: dict[str, float]) -> None:
    """runc: cgo with Debian's libseccomp, in a module of its own (it shares no library with the wrapper's tools)."""
    paths = bin_paths()
    if _want(force, paths.runc):
        v = versions.RUNC
        flags = f"-s -w -X main.version={v.lstrip('v')}"
        pkg = f"github.com/opencontainers/runc@{v}"
        _timed("runc", v, times, lambda: _go_install(go, pkg, flags, paths.runc, cgo_tags="seccomp"))


# What every CoreDNS main imports: the server (whose Directives set the plugins' order) and its entry point.
COREDNS_CORE = ("github.com/coredns/coredns/core/dnsserver", "github.com/coredns/coredns/coremain")


def _coredns_plugin_packages(plugins: Sequence[str]) -> list[str]:
    return [f"github.com/coredns/coredns/plugin/{p}" for p in plugins]


def _coredns_main(plugins: Sequence[str]) -> str:
    """A CoreDNS main package with only ``plugins``, in that order (CoreDNS's documented way to a smaller server)."""
    core = "".join(f'\t"{p}"\n' for p in COREDNS_CORE)
    imports = "".join(f'\t_ "{p}"\n' for p in _coredns_plugin_packages(plugins))
    directives = ", ".join(f'"{p}"' for p in plugins)
    return (
        "// Generated by localkube: CoreDNS with only the plugins the node's Corefile uses.\n"
        "package main\n\n"
        "import (\n"
        f"{core}\n"
        f"{imports})\n\n"
        f"func init() {{ dnsserver.Directives = []string{{{directives}}} }}\n\n"
        "func main() { coremain.Run() }\n"
    )


def _copy_kwok_stages(go: _Go) -> None:
    """kwok's stage definitions (how fake nodes and pods move through their states), from its module."""
    mod_dir = Path(go.module_info(f"sigs.k8s.io/kwok@{versions.KWOK}")["Dir"])
    stages_src = {
        "node-initialize.yaml": mod_dir / "kustomize/stage/node/fast/node-initialize.yaml",
        "node-heartbeat-with-lease.yaml": mod_dir
        / "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
        "pod-ready.yaml": mod_dir / "kustomize/stage/pod/fast/pod-ready.yaml",
        "pod-complete.yaml": mod_dir / "kustomize/stage/pod/fast/pod-complete.yaml",
        "pod-delete.yaml": mod_dir / "kustomize/stage/pod/fast/pod-delete.yaml",
    }
    stages = bin_paths().kwok_stages
    stages.mkdir(parents=True, exist_ok=True)
    for name, src in stages_src.items():
        shutil.copyfile(src, stages / name)


def build_all(force: bool = False) -> BinPaths:
    """Build every missing binary (all of them with ``force``). Prints per-component and total build times."""
    paths = bin_paths()
    with _build_lock():
        # Files, not binaries: the monitoring CRDs are fetched from their Go module whether or not anything builds.
        from localkube import monitoring_crds  # imports this module

        monitoring_crds.ensure()
        if not force and not paths.missing():
            _log(f"binaries cached under {cache_root() / 'bin'} (warm cache, nothing to build)")
            return paths
        log_path = cache_root() / "build" / "build.log"
        log_path.write_text(f"localkube build {_build_date()}\n")
        go = _Go(log_path)
        _log(f"building with {go.exe}; go output in {log_path}")
        times: dict[str, float] = {}
        total_start = time.monotonic()
        _build_containerd(go, force, times)
        wanted = {n: p for n, p in paths.in_kubernetes_wrapper().items() if _want(force, p)}
        if wanted:
            _build_in_wrapper(go, wanted, times)
        _build_runc(go, force, times)
        total = time.monotonic() - total_start
        summary = ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
        _log(f"build finished in {total:.1f} s ({summary})")
        with (cache_root() / "build" / "times.log").open("a") as fh:
            fh.write(json.dumps({"date": _build_date(), "total_s": round(total, 1), "steps_s": times}) + "\n")
    missing = paths.missing()
    if missing:
        raise BuildError(f"build finished but binaries are missing: {missing}")
    return paths


def ensure_binaries() -> BinPaths:
    """The binary paths, building what is missing."""
    paths = bin_paths()
    if not paths.missing():
        return paths
    return build_all()
