"""The three rollouts the demo plays and the e2e suite asserts (and the split the e2e suite and the chaos run add),
written as data, and the player that runs them.

A scenario applies a new version with a rollout strategy, then watches the VisionModel until the rollout ends; the
recorder samples the status every second (phase, weights, gate values) for the live progress line, the timeline PNG
and the JSON record.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from visionroll_demo.stack import Log, Stack

Expect = Literal["promoted", "rolled-back"]

# Short clocks so the demo tells its story in minutes; the gates and thresholds are what a user would set.
ANALYSIS: dict[str, Any] = {"interval": "5s", "minSamples": 40, "failureLimit": 2, "inconclusiveLimit": 4}


@dataclass(frozen=True)
class Scenario:
    title: str
    short: str
    version: str
    rollout: dict[str, Any]
    expect: Expect
    timeout: float = 240.0


SCENARIOS = (
    Scenario(
        title="canary of the int8 model (2.0)",
        short="canary 2.0 (int8)",
        version="2.0",
        # The gates need evidence, not only time: at 50% of 40 req/s, drift <= 0.1 bits is shown after ~700
        # candidate answers (~35 s), an error rate <= 2% after ~300 (docs/rollout.md).
        rollout={
            "strategy": "canary",
            "canary": {"steps": [50, 100], "stepDuration": "10s"},
            "analysis": ANALYSIS
            | {
                "gates": {
                    "latencyP99": {"maxMs": 500},
                    "errorRate": {"max": 0.02},
                    "drift": {"method": "jensen-shannon", "max": 0.1},
                }
            },
        },
        expect="promoted",
    ),
    Scenario(
        title="shadow of a model with wrong answers (3.0)",
        short="shadow 3.0 (wrong answers)",
        version="3.0",
        rollout={
            "strategy": "shadow",
            "shadow": {"mirrorPercent": 100, "duration": "30s", "thenPromote": "direct"},
            "analysis": ANALYSIS
            | {"gates": {"errorRate": {"max": 0.02}, "drift": {"max": 0.05}, "agreement": {"min": 0.95}}},
        },
        expect="rolled-back",
    ),
    Scenario(
        title="canary of a model failing under load (4.0)",
        short="canary 4.0 (fails)",
        version="4.0",
        rollout={
            "strategy": "canary",
            "canary": {"steps": [20, 50, 100], "stepDuration": "10s"},
            "analysis": ANALYSIS | {"gates": {"latencyP99": {"maxMs": 500}, "errorRate": {"max": 0.02}}},
        },
        expect="rolled-back",
    ),
)

# An A/B split judged by the default gates (the spec sets none): errors, latency next to stable at equal load, drift.
SPLIT_ROLLOUT: dict[str, Any] = {
    "strategy": "split",
    "split": {"weights": [50, 50], "duration": "30s", "decide": "auto"},
    "analysis": {"interval": "5s", "minSamples": 100},
}


def split_of_the_same_weights(version: str, stable: str) -> Scenario:
    """A 50/50 split of `version` against a stable with the same weights (1.0 and 5.0, its re-export): no worse on
    any default gate, so the split promotes it."""
    return Scenario(
        title=f"split of {version} against {stable} (the same weights)",
        short=f"split {version} vs {stable}",
        version=version,
        rollout=SPLIT_ROLLOUT,
        expect="promoted",
    )


@dataclass
class Result:
    scenario: Scenario
    outcome: str
    reason: str
    seconds: float
    start: float
    end: float
    stable_version: str


def _gate(status: dict[str, Any], name: str) -> float | None:
    for gate in (status.get("analysis") or {}).get("gates", []):
        if gate.get("name") == name:
            value = gate.get("value")
            return float(value) if value is not None else None
    return None


def _fmt_gates(status: dict[str, Any]) -> str:
    marks = {"pass": "ok", "fail": "FAIL", "inconclusive": "?"}
    parts = []
    for gate in (status.get("analysis") or {}).get("gates", []):
        value = gate.get("value")
        shown = "-" if value is None else f"{value:.3g}"
        parts.append(f"{gate['name']}={shown}[{marks.get(gate.get('verdict', ''), '')} n={gate.get('samples', 0)}]")
    return " ".join(parts)


@dataclass
class Recorder:
    """Samples the VisionModel every second from a thread; prints a line whenever the story changes."""

    stack: Stack
    log: Log
    t0: float = field(default_factory=time.monotonic)
    wall0: float = field(default_factory=time.time)  # the same instant on the wall clock (`t` of a sample + wall0)
    samples: list[dict[str, Any]] = field(default_factory=list)
    markers: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _last_line: str = ""
    _last_step: tuple[Any, ...] = ()
    _history_seen: int = -1

    def now(self) -> float:
        return time.monotonic() - self.t0

    def start(self) -> Recorder:
        threading.Thread(target=self._run, name="recorder", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.sample()
            except Exception as exc:  # a transient API error must not end the recording
                self.log(f"  (status read failed: {exc})")

    def _replicas(self, revision: dict[str, Any] | None) -> int | None:
        """Ready pods of a revision's Deployment (its HPA sets how many)."""
        if not revision:
            return None
        return self.stack.ready_replicas(revision["revision"])

    def sample(self) -> None:
        status = self.stack.get().get("status", {})
        t = round(self.now(), 1)
        weights = status.get("weights") or {}
        live = bool(status.get("candidate"))  # gate values belong to a rollout in flight, not to the quiet after it

        def gate(name: str) -> float | None:
            return _gate(status, name) if live else None

        self.samples.append(
            {
                "t": t,
                "stable_replicas": self._replicas(status.get("stable")),
                "candidate_replicas": self._replicas(status.get("candidate")),
                "phase": status.get("phase"),
                "stage": status.get("stage"),
                "step": status.get("step"),
                "weight": weights.get("candidate", 0),
                "mirror": status.get("mirrorPercent", 0),
                "p99_candidate_ms": gate("latencyP99"),
                "latency_vs_stable": gate("latencyVsStable"),
                "error_rate": gate("errorRate"),
                "drift": gate("drift"),
                "agreement": gate("agreement"),
            }
        )
        step = (status.get("stage"), status.get("step"), weights.get("candidate"), status.get("mirrorPercent"))
        if live and step != self._last_step and self._last_step:
            self.markers.append({"t": t, "kind": "step", "label": f"{step[0]} step {step[1]}"})
        self._last_step = step
        history = status.get("history") or []
        if self._history_seen < 0:
            self._history_seen = len(history)
        for entry in history[self._history_seen :]:
            kind = entry["outcome"] if entry["outcome"] in ("promoted", "rolled-back") else "step"
            self.markers.append({"t": t, "kind": kind, "label": f"{entry['version']} {entry['outcome']}"})
        self._history_seen = len(history)
        candidate = (status.get("candidate") or {}).get("version", "-")
        line = (
            f"{status.get('phase', '?'):<11} stable={(status.get('stable') or {}).get('version', '-')} "
            f"candidate={candidate} {status.get('stage') or ''} step={status.get('step')} "
            f"weights={weights.get('stable', '?')}/{weights.get('candidate', '?')} "
            f"mirror={status.get('mirrorPercent', 0)}% {_fmt_gates(status)}"
        )
        if line != self._last_line:
            self.log(f"[{t:6.1f}s] {line}")
            self._last_line = line


def play(stack: Stack, scenario: Scenario, recorder: Recorder, log: Log) -> Result:
    """Apply the scenario's version and wait for the rollout to end; returns what happened."""
    revision = stack.revision(scenario.version)
    before = len((stack.get().get("status") or {}).get("history") or [])
    log(f"\n=== {scenario.title}: kubectl apply (version {scenario.version}, strategy {scenario.rollout['strategy']})")
    start = recorder.now()
    stack.apply(stack.manifest(scenario.version, scenario.rollout))
    deadline = time.monotonic() + scenario.timeout
    while time.monotonic() < deadline:
        try:
            status = stack.get().get("status") or {}
        except Exception as exc:  # the API server restarting (the chaos run) is waited out, up to the deadline
            log(f"  (status read failed: {str(exc).splitlines()[0][:120]})")
            time.sleep(1.0)
            continue
        ended = [h for h in (status.get("history") or [])[before:] if h.get("revision") == revision]
        if ended and not status.get("candidate"):
            entry = ended[-1]
            end = recorder.now()
            log(f"=== {scenario.title}: {entry['outcome']} after {end - start:.0f}s — {entry['reason']}")
            return Result(
                scenario,
                entry["outcome"],
                entry["reason"],
                end - start,
                start,
                end,
                (status.get("stable") or {}).get("version", "?"),
            )
        time.sleep(1.0)
    status = stack.get().get("status") or {}
    raise TimeoutError(
        f"{scenario.title}: no outcome within {scenario.timeout:.0f}s\n"
        f"status: {status.get('phase')} {status.get('message')}; {_fmt_gates(status)}\npods:\n{stack.pods()}\n"
        f"operator log (tail):\n{stack.operator_logs()}"
    )


def thresholds() -> dict[str, list[float]]:
    """The gate limits the scenarios set, for the dotted lines of the timeline."""
    out: dict[str, set[float]] = {}
    keys = {"latencyP99": "maxMs", "errorRate": "max", "drift": "max", "agreement": "min"}
    for scenario in SCENARIOS:
        for gate, spec in scenario.rollout["analysis"].get("gates", {}).items():
            if gate in keys and keys[gate] in spec:
                out.setdefault(gate, set()).add(float(spec[keys[gate]]))
    return {k: sorted(v) for k, v in out.items()}
