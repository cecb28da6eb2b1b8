"""Start, record and stop child processes by PID; free loopback ports; polling helpers."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PIDS_FILE = "pids.json"


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C (KeyboardInterrupt in the main thread), so every `with`, `finally` and
    fixture teardown stops what it started: containers, network interfaces and processes. Only the first signal
    unwinds; later ones are ignored, so a second SIGTERM cannot cut the teardown short (SIGINT keeps its default)."""

    def interrupted(signum: int, _frame: object) -> None:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}; stopping everything started")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 5.0) -> bytes:
    """GET without any proxy (this machine's own addresses only)."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if ctx is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ctx))
    opener = urllib.request.build_opener(*handlers)
    with contextlib.closing(opener.open(url, timeout=timeout)) as resp:
        body: bytes = resp.read()
        return body


class Deadline:
    """A time budget that can be renewed (e.g. after a step whose duration is not start-up time)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reset()

    def reset(self) -> None:
        self._end = time.monotonic() + self.seconds

    def left(self) -> float:
        return max(1.0, self._end - time.monotonic())


def wait_until(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    interval: float = 0.1,
    alive: Callable[[], None] | None = None,
) -> None:
    """Poll ``check`` until it returns True; ``alive`` may raise to stop early (e.g. the process died)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        if alive is not None:
            alive()
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001 - any failure just means "not yet"
            last_error = e
        if time.monotonic() > deadline:
            suffix = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{suffix}")
        time.sleep(interval)


def reset_run_dir(run_dir: Path, markers: Sequence[str]) -> None:
    """Empty ``run_dir`` for a fresh start, refusing to wipe a non-empty directory that was not ours or whose
    recorded processes still run."""
    running = [f"{p.name}[{p.pid}]" for p in Supervisor.load(run_dir).procs if p.running()]
    if running:
        raise RuntimeError(
            f"already running in {run_dir}: {', '.join(running)}; stop it first (python -m localkube down)"
        )
    if run_dir.exists() and any(run_dir.iterdir()):
        if not any((run_dir / m).exists() for m in markers):
            raise RuntimeError(f"refusing to wipe {run_dir}: not empty and not a localkube run directory")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def _die_with_parent() -> None:
    """preexec_fn: ask the kernel to SIGKILL the child when the parent dies (PR_SET_PDEATHSIG). SIGKILL, not
    SIGTERM: all children get it at once, and an API server shutting down gracefully while etcd vanishes hangs."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


@dataclass
class Proc:
    name: str
    argv: list[str]
    log: Path
    pid: int
    popen: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # as started (kept in memory only: a restart is the starter's to make)

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return _pid_alive(self.pid, self.argv[0])

    def check_alive(self) -> None:
        if not self.running():
            raise RuntimeError(f"{self.name} (pid {self.pid}) exited early; log: {self.log}\n{tail(self.log)}")


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _pid_alive(pid: int, exe: str) -> bool:
    """True when ``pid`` runs ``exe`` and is not a zombie (guards against PID reuse)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    if state in ("Z", "X"):
        return False
    return bool(cmdline) and cmdline[0].decode(errors="replace") == exe


class Supervisor:
    """Owns the processes of one run directory: starts them, records their PIDs, stops them (reverse order)."""

    def __init__(self, run_dir: Path, die_with_parent: bool) -> None:
        self.run_dir = run_dir
        self.log_dir = run_dir / "logs"
        self.die_with_parent = die_with_parent
        self.procs: list[Proc] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as fh:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self.run_dir,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop them in order
                preexec_fn=_die_with_parent if self.die_with_parent else None,  # noqa: PLW1509
            )
        proc = Proc(name=name, argv=list(argv), log=log, pid=popen.pid, popen=popen, env=env)
        self.procs.append(proc)
        self.save()
        return proc

    def stop(self, name: str, timeout: float = 15.0) -> None:
        """Stop the process ``name`` only (it stays recorded, for `restart`)."""
        self._stop(next(p for p in self.procs if p.name == name), timeout)

    def restart(self, name: str, timeout: float = 15.0) -> Proc:
        """Stop the process ``name`` (SIGTERM, then SIGKILL) and start it again as it was started: the same argv,
        environment and log, in the same place of the stop order. For fault injection (a restarted API server)."""
        index, old = next((i, p) for i, p in enumerate(self.procs) if p.name == name)
        self._stop(old, timeout)
        new = self.start(name, old.argv, old.env)
        self.procs.pop()
        self.procs[index] = new
        self.save()
        return new

    def save(self) -> None:
        data = [{"name": p.name, "pid": p.pid, "argv": p.argv, "log": str(p.log)} for p in self.procs]
        tmp = self.run_dir / f".{PIDS_FILE}.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.run_dir / PIDS_FILE)

    @classmethod
    def load(cls, run_dir: Path) -> Supervisor:
        sup = cls(run_dir, die_with_parent=False)
        path = run_dir / PIDS_FILE
        if path.exists():
            for item in json.loads(path.read_text()):
                sup.procs.append(Proc(name=item["name"], argv=item["argv"], log=Path(item["log"]), pid=item["pid"]))
        return sup

    def stop_all(self, timeout: float = 15.0) -> None:
        """SIGTERM every recorded process (newest first, with its process group), wait, SIGKILL what is left, wait
        again."""
        for proc in reversed(self.procs):
            self._stop(proc, timeout)
        self.procs.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / PIDS_FILE).unlink()

    @staticmethod
    def _stop(proc: Proc, timeout: float) -> None:
        if not proc.running():
            if proc.popen is not None:
                proc.popen.wait()
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            _signal(proc.pid, sig)
            if proc.popen is not None:
                try:
                    proc.popen.wait(wait)
                    return
                except subprocess.TimeoutExpired:
                    continue
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not proc.running():
                    return
                time.sleep(0.05)
        if proc.running():
            raise RuntimeError(f"could not stop {proc.name} (pid {proc.pid})")


def stop_popens(*popens: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """SIGTERM every one of ``popens`` still running (its group with it, as `_signal` does), give them ``timeout``
    seconds together, then SIGKILL what is left; all are reaped."""
    running = [p for p in popens if p.poll() is None]
    for popen in running:
        _signal(popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for popen in running:
        try:
            popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(popen.pid, signal.SIGKILL)
            popen.wait()


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal ``pid`` and, when it leads its own process group (everything `Supervisor.start` starts does), the whole
    group with it: children such as nginx's workers go too, and none is left behind by a SIGKILL of its parent."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
