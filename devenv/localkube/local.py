"""Local processes for tests, the benchmark and the demo: model archives, a TorchServe, a router, all on loopback.

    from localkube import local

    archives = local.build_archives()                       # cached by source hash; BuildResult
    with local.TorchServe([archives.archive("1.0"), archives.archive("3.0")]) as ts:
        config = local.write_router_config(path, variants=[
            local.variant("stable", "1.0", ts.inference_url, weight=100)], shadow=None)
        with local.Router(config_file=path) as router:       # or Router(configmap="default/digits-routing")
            requests.post(router.url + "/predictions/digits", data=png)

Every process runs in its own session and is stopped by its PID (TERM, then KILL after a grace period), children
included; work directories and logs live in a temp directory that `stop()` removes unless `keep_logs` is set.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import requests

from localkube import images
from localkube.procs import free_port, tail
from visionroll.api import Serving
from visionroll.workloads.torchserve import Archive, Listen, properties
from visionroll_serving.management import TorchServeError, TorchServeManagement
from visionroll_serving.router.config import RouterJson, VariantSpec

LOOPBACK = "127.0.0.1"
MODEL = "digits"

if TYPE_CHECKING:
    from visionroll_serving.build import BuildResult


def build_archives(*, force: bool = False) -> BuildResult:
    """The four digits archives (1.0, 2.0, 3.0, 4.0), built on first use and cached by a hash of the sources."""
    from visionroll_serving.build import build

    return build(force=force, log=lambda message: print(message, file=sys.stderr))


def post_many(
    url: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int = 8,
    headers: Sequence[Mapping[str, str]] | None = None,
    content_type: str = "image/png",
    timeout: float = 30.0,
) -> list[requests.Response]:
    """POSTs each body once (a bounded load), `concurrency` at a time; the answers in the order of `bodies`."""
    from concurrent.futures import ThreadPoolExecutor

    sessions = [requests.Session() for _ in range(concurrency)]

    def send(i: int) -> requests.Response:
        extra = dict(headers[i]) if headers else {}
        session = sessions[i % concurrency]
        return session.post(url, data=bodies[i], headers={"Content-Type": content_type, **extra}, timeout=timeout)

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(send, range(len(bodies))))
    finally:
        for session in sessions:
            session.close()


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample called `name` in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


class _Process:
    """A child process in its own session, stopped by PID with its descendants."""

    name = "process"  # as start-up errors name it

    def __init__(self, *, keep_logs: bool = False) -> None:
        self.keep_logs = keep_logs
        self.workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    @property
    def log_file(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "output.log"

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_file, lines)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process's PID while it runs (the benchmark reads its CPU time)."""
        return self._process.pid if self._process is not None else None

    def _wait_until_ready(self, probe: Callable[[], str | None], *, timeout: float, interval: float) -> None:
        """Polls `probe` (None when ready, else why not) every `interval` seconds; fails early if the process exits."""
        deadline = time.monotonic() + timeout
        last = "not started"
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            reason = probe()
            if reason is None:
                return
            last = reason
            time.sleep(interval)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s ({last}):\n{self.log_tail()}")

    def _spawn(self, command: list[str], *, env: Mapping[str, str] | None = None) -> None:
        assert self.workdir is not None
        with open(self.log_file, "ab") as output:
            self._process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: TorchServe's JVM and workers go with it
            )

    def stop(self, *, timeout: float = 20.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            descendants = _descendants(process.pid)
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            self.returncode = process.returncode
            _reap(descendants, timeout=timeout)
        if self.workdir is not None and not self.keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def _descendants(pid: int) -> list[Any]:
    try:
        import psutil  # type: ignore[import-untyped]

        return list(psutil.Process(pid).children(recursive=True))
    except Exception:  # psutil missing or the process already gone: nothing more to wait for
        return []


def _reap(processes: list[Any], *, timeout: float) -> None:
    """Waits for the descendants we saw at stop time; kills those (by PID) that outlive the grace period."""
    if not processes:
        return
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


class TorchServe(_Process):
    """A TorchServe on free loopback ports serving the given archives (all loaded at start).

    Several versions of one model may be loaded together; they answer on /predictions/<model>/<version>.
    """

    name = "TorchServe"

    def __init__(
        self,
        archives: Sequence[Path],
        *,
        workers: int = 1,
        batch_size: int = 1,
        max_batch_delay_ms: int = 5,
        job_queue_size: int = 200,
        token_auth: bool = False,
        keep_logs: bool = False,
    ) -> None:
        super().__init__(keep_logs=keep_logs)
        if not archives:
            raise ValueError("TorchServe needs at least one model archive")
        self.archives = [Path(a).resolve() for a in archives]
        self.workers = workers
        self.batch_size = batch_size
        self.max_batch_delay_ms = max_batch_delay_ms
        self.job_queue_size = job_queue_size
        self.token_auth = token_auth
        self.ports: dict[str, int] = {}

    @property
    def inference_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['inference']}"

    @property
    def management_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['management']}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['metrics']}"

    def management(self, *, token: str | None = None) -> TorchServeManagement:
        return TorchServeManagement(self.management_url, token=token)

    def config_properties(self, model_store: Path) -> str:
        """The production builder's file (visionroll.workloads.torchserve), on loopback and free ports."""
        archives = []
        for archive in self.archives:
            name, _, version = archive.stem.partition("-")
            archives.append(Archive(name, version or "1.0", archive.name))
        serving = Serving(workers=self.workers, batch_size=self.batch_size, max_batch_delay_ms=self.max_batch_delay_ms)
        listen = Listen(inference=self.inference_url, management=self.management_url, metrics=self.metrics_url)
        return properties(
            archives,
            serving,
            listen=listen,
            model_store=str(model_store),
            # Archives come only from the local model store; never fetch a model from a URL.
            allowed_urls="file://" + str(model_store).replace(".", r"\.") + "/.*",
            token_authorization=self.token_auth,
            tuning={
                # gRPC is on by default (7070/7071): free ports, so that servers never collide.
                "grpc_inference_port": str(self.ports["grpc_inference"]),
                "grpc_management_port": str(self.ports["grpc_management"]),
                "job_queue_size": str(self.job_queue_size),
                "number_of_netty_threads": "2",
                "netty_client_threads": "2",
                "vmargs": "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto",
            },
        )

    def start(self, *, timeout: float = 180.0) -> Self:
        self.workdir = Path(tempfile.mkdtemp(prefix="visionroll-torchserve-"))
        model_store = self.workdir / "model-store"
        model_store.mkdir()
        for archive in self.archives:
            (model_store / archive.name).symlink_to(archive)
        names = ("inference", "management", "metrics", "grpc_inference", "grpc_management")
        self.ports = {name: free_port() for name in names}
        config = self.workdir / "config.properties"
        config.write_text(self.config_properties(model_store))
        torchserve = Path(sys.executable).with_name("torchserve")
        command = [str(torchserve) if torchserve.exists() else "torchserve", "--start", "--foreground", "--ncs"]
        command += ["--ts-config", str(config), "--model-store", str(model_store)]
        if not self.token_auth:
            command.append("--disable-token-auth")
        tmp = str(self.workdir)
        # TEMP/TMPDIR: TorchServe keeps a pid file in the temp dir and refuses to start a second server that
        # shares it; LOG_LOCATION/METRICS_LOCATION keep its logs out of the current directory.
        env = {"TEMP": tmp, "TMPDIR": tmp, "LOG_LOCATION": f"{tmp}/logs", "METRICS_LOCATION": f"{tmp}/logs"}
        self._spawn(command, env=env)
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def key_file(self) -> dict[str, Any]:
        """TorchServe's generated keys (token authorization on): {"management": {"key": ...}, ...}."""
        assert self.workdir is not None
        return dict(json.loads((self.workdir / "key_file.json").read_text()))

    def wait_ready(self, *, timeout: float) -> None:
        token: str | None = None

        def probe() -> str | None:
            nonlocal token
            try:
                if self.token_auth and token is None:
                    token = self.key_file()["management"]["key"]
                readiness = self.management(token=token).readiness()
            except (TorchServeError, OSError, KeyError, ValueError) as exc:
                return str(exc)
            return None if readiness.ready else "; ".join(readiness.reasons)

        self._wait_until_ready(probe, timeout=timeout, interval=0.5)


def variant(name: str, version: str, upstream: str, *, weight: int, revision: str | None = None) -> dict[str, Any]:
    """One entry of router.json's `variants`, in the router's schema (`VariantSpec`)."""
    entry = {"name": name, "revision": revision or version.replace(".", "-") + "-local", "version": version}
    return VariantSpec.model_validate({**entry, "upstream": upstream, "weight": weight}).wire()


def router_config(
    variants: Sequence[Mapping[str, Any]],
    *,
    shadow: Mapping[str, Any] | None = None,
    sticky_header: str | None = None,
    model: str = MODEL,
    namespace: str = "local",
    visionmodel: str = MODEL,
) -> dict[str, Any]:
    """A whole router.json, validated by the router's schema (`RouterJson`): to test a config the router refuses,
    change the returned document."""
    config = {"namespace": namespace, "visionmodel": visionmodel, "model": model, "variants": list(variants)}
    return RouterJson.model_validate({**config, "shadow": shadow, "stickyHeader": sticky_header}).wire()


def write_router_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Writes atomically, so a router watching the file never reads half a config."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_text(json.dumps(config, indent=2))
    os.replace(staging, path)
    return path


class Router(_Process):
    """The router (`visionroll-router`, the binary its image holds: `localkube.images.router_binary`) on free loopback
    ports.

    Give `config_file` (watched for changes) or `configmap` ("NAMESPACE/NAME", watched through the Kubernetes API
    with `kubeconfig` or $KUBECONFIG). `resolve` maps upstream "HOST:PORT" to "IP:PORT" (curl-like).
    """

    name = "router"

    def __init__(
        self,
        *,
        config_file: Path | None = None,
        configmap: str | None = None,
        kubeconfig: Path | None = None,
        resolve: Mapping[str, str] | None = None,
        max_body_bytes: int | None = None,
        upstream_timeout: float | None = None,
        shadow_queue: int | None = None,
        shadow_concurrency: int | None = None,
        extra_args: Sequence[str] = (),
        log_level: str = "INFO",
        keep_logs: bool = False,
    ) -> None:
        super().__init__(keep_logs=keep_logs)
        self.extra_args = list(extra_args)  # any other command-line options, e.g. ["--feedback-entries", "100"]
        if (config_file is None) == (configmap is None):
            raise ValueError("give exactly one of config_file or configmap")
        self.config_file = config_file
        self.configmap = configmap
        self.kubeconfig = kubeconfig
        self.resolve = dict(resolve or {})
        self.options = {
            "--max-body-bytes": max_body_bytes,
            "--upstream-timeout": upstream_timeout,
            "--shadow-queue": shadow_queue,
            "--shadow-concurrency": shadow_concurrency,
        }
        self.log_level = log_level
        self.port = 0
        self.metrics_port = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}"

    def command(self) -> list[str]:
        command = [str(images.router_binary()), "--host", LOOPBACK]
        command += ["--port", str(self.port), "--metrics-port", str(self.metrics_port)]
        command += ["--log-level", self.log_level]
        if self.config_file is not None:
            command += ["--config-file", str(self.config_file)]
        if self.configmap is not None:
            command += ["--configmap", self.configmap]
        if self.kubeconfig is not None:
            command += ["--kubeconfig", str(self.kubeconfig)]
        for host, target in self.resolve.items():
            command += ["--resolve", f"{host}={target}"]
        for flag, value in self.options.items():
            if value is not None:
                command += [flag, str(value)]
        return command + self.extra_args

    def start(self, *, timeout: float = 30.0) -> Self:
        self.workdir = Path(tempfile.mkdtemp(prefix="visionroll-router-"))
        self.port, self.metrics_port = free_port(), free_port()
        self._spawn(self.command())
        try:
            self.wait_ready(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, *, timeout: float) -> None:
        def probe() -> str | None:
            try:
                response = requests.get(self.url + "/readyz", timeout=2)
                if response.status_code == 200:
                    return None
                return f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as exc:
                return str(exc)

        self._wait_until_ready(probe, timeout=timeout, interval=0.1)

    def metrics_text(self) -> str:
        return requests.get(self.metrics_url + "/metrics", timeout=5).text
