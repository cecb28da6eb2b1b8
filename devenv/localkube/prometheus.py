"""Debian's `prometheus` on a free port (loopback, or the real node's address so that pods reach it) with an
extendable scrape config.

    prom = Prometheus.start(run_dir)                       # scrape interval 1s by default
    prom.add_scrape_target("router", "127.0.0.1:9101", labels={"namespace": "demo"})   # reloads, waits
    prom.query('up{job="router"}')                        # -> list of {"metric": {...}, "value": [ts, "1"]}
    prom.stop()

``prom.add_kubernetes_pods(kubeconfig)`` adds the chart's documented scrape job for a plain Prometheus
(charts/visionroll/files/prometheus-scrape.yaml): pods found by Kubernetes service discovery through their
`prometheus.io/*` annotations.

The config file is JSON (which is YAML) at ``<run_dir>/prometheus.yml``; changes are applied with POST /-/reload
(``--web.enable-lifecycle``) and the helper waits until Prometheus reports the new targets.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from localkube.podsd import PodDiscovery
from localkube.procs import Supervisor, free_port, reset_run_dir, wait_until

STATE_FILE = "state.json"
CONFIG_FILE = "prometheus.yml"
CHART_SCRAPE_CONFIG = Path(__file__).resolve().parents[2] / "charts" / "visionroll" / "files" / "prometheus-scrape.yaml"


def prometheus_executable() -> str:
    exe = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if not exe:
        raise FileNotFoundError("prometheus is not installed: run `make system-deps` (apt-get install prometheus)")
    return exe


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Prometheus:
    """A Prometheus server owned by this process (``start``) or found in a run directory (``attach``)."""

    def __init__(self, run_dir: Path, port: int, supervisor: Supervisor, host: str = "127.0.0.1") -> None:
        self.run_dir = run_dir
        self.port = port
        self.host = host
        self.url = f"http://{host}:{port}"
        self.supervisor = supervisor
        self.config_path = run_dir / CONFIG_FILE
        self.discovery: PodDiscovery | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        run_dir: Path,
        scrape_interval: str = "1s",
        persistent: bool = False,
        timeout: float = 60.0,
        host: str = "127.0.0.1",
    ) -> Prometheus:
        """Start a fresh Prometheus in ``run_dir`` (wiped first) on a free port of ``host`` (loopback by default; a
        real node's address lets pods, such as the operator's, query it)."""
        reset_run_dir(run_dir, (STATE_FILE, CONFIG_FILE, "logs", "data"))
        (run_dir / "rules").mkdir()
        port = free_port()
        sup = Supervisor(run_dir, die_with_parent=not persistent)
        prom = cls(run_dir, port, sup, host)
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "evaluation_interval": scrape_interval,
            },
            "rule_files": [str(run_dir / "rules" / "*.yml"), str(run_dir / "rules" / "*.yaml")],
            "scrape_configs": [
                {"job_name": "prometheus", "static_configs": [{"targets": [f"{host}:{port}"]}]},
            ],
        }
        prom._write_config(config)
        proc = sup.start(
            "prometheus",
            [
                prometheus_executable(),
                f"--config.file={prom.config_path}",
                f"--storage.tsdb.path={run_dir / 'data'}",
                f"--web.listen-address={host}:{port}",
                "--web.enable-lifecycle",
                "--storage.tsdb.retention.time=1d",
                "--log.level=warn",
            ],
        )
        try:
            wait_until("prometheus /-/ready", lambda: prom._get("/-/ready") is not None, timeout, 0.2, proc.check_alive)
        except BaseException:
            sup.stop_all()
            raise
        (run_dir / STATE_FILE).write_text(json.dumps({"url": prom.url, "port": port, "host": host}))
        return prom

    @classmethod
    def attach(cls, run_dir: Path) -> Prometheus:
        state = json.loads((run_dir / STATE_FILE).read_text())
        return cls(run_dir, int(state["port"]), Supervisor.load(run_dir), state.get("host", "127.0.0.1"))

    def stop(self) -> None:
        """Stop the Prometheus process by PID and wait for it (and the pod discovery, if any)."""
        if self.discovery is not None:
            self.discovery.stop()
        self.supervisor.stop_all()

    def restart(self, timeout: float = 60.0) -> None:
        """Start the stopped (or running) server again on the same address with the same data: what it scraped
        before is kept, the time it was down has no samples."""
        proc = self.supervisor.restart("prometheus")
        wait_until(
            "prometheus /-/ready after a restart",
            lambda: self._get("/-/ready") is not None,
            timeout,
            0.2,
            proc.check_alive,
        )

    def pause(self) -> None:
        """Stop the server process only (pod discovery and the data stay), until `restart`."""
        self.supervisor.stop("prometheus")

    @property
    def log(self) -> Path:
        return self.run_dir / "logs" / "prometheus.log"

    # -- config ------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked_config(self) -> Iterator[dict[str, Any]]:
        with (self.run_dir / ".config.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            config: dict[str, Any] = json.loads(self.config_path.read_text())
            yield config
            self._write_config(config)

    def _write_config(self, config: dict[str, Any]) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=1))
        tmp.replace(self.config_path)

    def config(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.config_path.read_text())
        return data

    def add_scrape_target(
        self,
        job: str,
        target: str,
        labels: dict[str, str] | None = None,
        metrics_path: str = "/metrics",
        wait: bool = True,
        timeout: float = 30.0,
    ) -> None:
        """Add ``target`` ("127.0.0.1:PORT") to scrape job ``job`` (created if new), reload, and wait until
        Prometheus lists the target as active. It is scraped every scrape interval from then on."""
        with self._locked_config() as config:
            jobs = config["scrape_configs"]
            entry = next((j for j in jobs if j["job_name"] == job), None)
            if entry is None:
                entry = {"job_name": job, "metrics_path": metrics_path, "static_configs": []}
                jobs.append(entry)
            entry["static_configs"].append({"targets": [target], "labels": dict(labels or {})})
        self.reload()
        if wait:
            wait_until(
                f"prometheus target {job}/{target}",
                lambda: any(
                    t["labels"].get("job") == job and t["labels"].get("instance") == target for t in self.targets()
                ),
                timeout,
                0.2,
            )

    def add_kubernetes_pods(self, kubeconfig: Path) -> None:
        """Scrape the pods that carry `prometheus.io/*` annotations, as the chart's documented job for a plain
        Prometheus does (charts/visionroll/files/prometheus-scrape.yaml).

        Debian builds Prometheus without `kubernetes_sd_configs`, so here the same job reads its targets from a
        file that a discovery thread keeps current from the API server (`file_sd_configs`): the pod's IP and
        annotated port and path, its namespace and name, and the job from `visionroll.io/prometheus-job`.
        """
        jobs: list[dict[str, Any]] = yaml.safe_load(CHART_SCRAPE_CONFIG.read_text())
        (job,) = jobs
        targets = self.run_dir / "pod-targets.json"
        targets.write_text("[]")
        file_job = {
            "job_name": job["job_name"],
            "honor_labels": job["honor_labels"],
            "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}],
        }
        with self._locked_config() as config:
            config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] != job["job_name"]]
            config["scrape_configs"].append(file_job)
        self.reload()
        self.discovery = PodDiscovery(kubeconfig, targets).start()

    def remove_job(self, job: str) -> None:
        with self._locked_config() as config:
            config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] != job]
        self.reload()

    def add_rule_file(self, path: Path, timeout: float = 30.0) -> None:
        """Copy a rule file (YAML with `groups:`) into the rules dir, reload and wait until its groups are loaded."""
        dest = self.run_dir / "rules" / (path.stem + ".yml")
        shutil.copyfile(path, dest)
        self.reload()
        wait_until(
            f"rules from {path.name} loaded", lambda: any(g["file"] == str(dest) for g in self.rule_groups()), timeout
        )

    def reload(self) -> None:
        """POST /-/reload; raises if Prometheus rejects the config."""
        req = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        try:
            with _opener().open(req, timeout=30) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"prometheus reload failed: {e.read().decode(errors='replace')}") from e

    # -- queries -----------------------------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, str] | None = None) -> bytes | None:
        url = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            with _opener().open(url, timeout=10) as resp:
                body: bytes = resp.read()
                return body
        except (urllib.error.URLError, ConnectionError):
            return None

    def api(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET /api/v1/<path>; returns ``data`` of a successful answer."""
        body = self._get(f"/api/v1/{path}", params)
        if body is None:
            raise RuntimeError(f"prometheus {path} failed")
        answer = json.loads(body)
        if answer.get("status") != "success":
            raise RuntimeError(f"prometheus {path}: {answer}")
        return answer["data"]

    def targets(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.api("targets", {"state": "active"})["activeTargets"]
        return data

    def rule_groups(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.api("rules")["groups"]
        return data

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; the ``result`` list of a vector answer."""
        data = self.api("query", {"query": promql})
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for(
        self,
        promql: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 30.0,
    ) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``predicate(result)`` holds (default: non-empty); returns that result."""
        found: list[list[dict[str, Any]]] = []

        def check() -> bool:
            result = self.query(promql)
            if predicate(result):
                found.append(result)
                return True
            return False

        wait_until(f"prometheus query {promql!r}", check, timeout, 0.25)
        return found[-1]
