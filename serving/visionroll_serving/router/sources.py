"""Where routing configs come from, hot-reloaded: a local file (polled) or a ConfigMap (Kubernetes watch).

Both hand raw text to one `apply` callback on the event loop. A config that does not parse is logged and the
previous one stays in force; a deleted file or ConfigMap also keeps the last good config.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ApplyText = Callable[[str, str], None]  # (text, origin)
CONFIGMAP_KEY = "router.json"


class FileSource:
    """Polls the file's (mtime, size, inode) — cheap, portable, and robust to editors that replace the file."""

    def __init__(self, path: Path, apply: ApplyText, *, interval: float = 0.5) -> None:
        self.path = path
        self._apply = apply
        self._interval = interval
        self._seen: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def check(self) -> None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            if self._seen is not None:
                log.warning("routing config %s disappeared; keeping the last good config", self.path)
                self._seen = None
            return
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if key == self._seen:
            return
        self._seen = key
        try:
            text = self.path.read_text()
        except OSError as exc:
            log.error("cannot read routing config %s: %s", self.path, exc)
            return
        self._apply(text, f"file {self.path}")

    def start(self) -> None:
        self.check()
        self._task = asyncio.create_task(self._poll(), name="config-file")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.check()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class ConfigMapSource:
    """Watches one ConfigMap in a thread (the kubernetes client is blocking) and applies `router.json`."""

    def __init__(
        self,
        namespace: str,
        name: str,
        apply: ApplyText,
        *,
        kubeconfig: str | None = None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self._apply = apply
        self._kubeconfig = kubeconfig
        self._loop = loop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="configmap-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()  # the watch returns within its server-side timeout; the thread is a daemon

    def _deliver(self, configmap: Any) -> None:
        data = getattr(configmap, "data", None) or {}
        origin = f"configmap {self.namespace}/{self.name} rv={configmap.metadata.resource_version}"
        text = data.get(CONFIGMAP_KEY)
        if text is None:
            log.error("%s has no key %s; keeping the last good config", origin, CONFIGMAP_KEY)
            return
        self._loop.call_soon_threadsafe(self._apply, text, origin)

    def _run(self) -> None:
        from kubernetes import client, config, watch

        try:
            if self._kubeconfig or os.environ.get("KUBECONFIG"):
                config.load_kube_config(config_file=self._kubeconfig)  # type: ignore[no-untyped-call]
            else:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
        except Exception:
            log.exception("cannot load Kubernetes credentials; the ConfigMap is not watched")
            return
        api = client.CoreV1Api()
        selector = f"metadata.name={self.name}"
        while not self._stop.is_set():
            try:
                listing = api.list_namespaced_config_map(self.namespace, field_selector=selector)
                for item in listing.items:
                    self._deliver(item)
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    api.list_namespaced_config_map,
                    self.namespace,
                    field_selector=selector,
                    resource_version=listing.metadata.resource_version if listing.metadata else None,
                    timeout_seconds=20,
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._deliver(event["object"])
                    elif event["type"] == "DELETED":
                        log.warning("ConfigMap %s/%s deleted; keeping the last good config", self.namespace, self.name)
            except Exception as exc:  # API server restarts, expired resource versions: list again after a pause
                log.warning("ConfigMap watch %s/%s failed (%s); retrying", self.namespace, self.name, exc)
                self._stop.wait(2.0)
