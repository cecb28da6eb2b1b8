"""Pod discovery for Debian's Prometheus, which is built without `kubernetes_sd_configs`: a thread lists pods from
the API server every second and writes a `file_sd_configs` target file with what the chart's documented scrape job
(charts/visionroll/files/prometheus-scrape.yaml) keeps and relabels: running pods annotated
`prometheus.io/scrape: "true"`, at `<pod IP>:<prometheus.io/port>` and `prometheus.io/path`, labelled with their
namespace, pod name and, when the pod carries `visionroll.io/prometheus-job`, that job.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

JOB_LABEL = "visionroll.io/prometheus-job"


def targets(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The file_sd target groups for these pods (pure: the relabelling of the chart's job, in code)."""
    groups = []
    for pod in pods:
        meta, status = pod.get("metadata", {}), pod.get("status", {})
        ann = meta.get("annotations") or {}
        if ann.get("prometheus.io/scrape") != "true" or status.get("phase") != "Running" or not status.get("podIP"):
            continue
        port = ann.get("prometheus.io/port", "")
        if not port.isdigit():
            continue
        labels = {
            "namespace": meta["namespace"],
            "pod": meta["name"],
            "__metrics_path__": ann.get("prometheus.io/path", "/metrics"),
        }
        job = (meta.get("labels") or {}).get(JOB_LABEL)
        if job:
            labels["job"] = job
        groups.append({"targets": [f"{status['podIP']}:{port}"], "labels": labels})
    return sorted(groups, key=lambda g: g["targets"][0])


class PodDiscovery:
    def __init__(self, kubeconfig: Path, path: Path, interval: float = 1.0) -> None:
        self.kubeconfig, self.path, self.interval = kubeconfig, path, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""

    def start(self) -> PodDiscovery:
        from kubernetes import client, config

        api = client.CoreV1Api(config.new_client_from_config(config_file=str(self.kubeconfig)))  # type: ignore[no-untyped-call]

        def run() -> None:
            written = ""
            while not self._stop.is_set():
                try:
                    pods = api.api_client.sanitize_for_serialization(api.list_pod_for_all_namespaces(timeout_seconds=5))
                    text = json.dumps(targets(pods.get("items", [])), indent=1)
                    if text != written:
                        tmp = self.path.with_suffix(".tmp")
                        tmp.write_text(text)
                        os.replace(tmp, self.path)  # Prometheus never reads a half-written file
                        written = text
                except Exception as e:  # noqa: BLE001 - the API server may be restarting; try again next round
                    self.last_error = repr(e)
                self._stop.wait(self.interval)
            api.api_client.close()

        self._thread = threading.Thread(target=run, name="pod-discovery", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
