"""The chaos run (`make chaos`): a split and the demo's three rollouts (canary, shadow, failing canary) on the real
node while faults strike at random moments, and what they cost.

Faults (each one what a user's cluster meets):
- `operator-kill`: SIGKILL to the operator's process in its pod (the kubelet restarts the container in place, so
  there is never a second operator);
- `apiserver-restart`: the API server stopped and started again (etcd keeps the state);
- `prometheus-stop`: Prometheus stopped for a while mid-analysis, then started again with its data;
- `candidate-pod-kill` / `stable-pod-kill`: SIGKILL to one TorchServe pod's containers mid-canary (force delete);
- `router-pod-delete`: one router pod deleted (the Deployment replaces it).

Expected, and checked (`check`): every rollout ends as the undisturbed run does (SCENARIOS' `expect`, the outcome the
e2e suite asserts on the same models); no stage passes while Prometheus is down (nothing promoted without data);
faults of the control plane and of Prometheus cost clients nothing; losing a pod costs only the requests it had in
flight; after the VisionModel is deleted no object of it is left. Each client error is listed (time, code, the
variant that answered, the reason) and attributed to a fault (`attribute`). Answers that did not come in time with
no pod fault near (a router 504, a client timeout) are this 2-core node's saturation, not a fault's cost: they are
reported, and bounded at 0.5% of the requests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localkube.build import cache_root
from localkube.cluster import LocalCluster
from localkube.procs import stop_on_signals
from visionroll import vocabulary
from visionroll_demo.scenarios import SCENARIOS, Recorder, Scenario, play, split_of_the_same_weights
from visionroll_demo.stack import NAME, RELEASE, RELEASE_NAMESPACE, Log, Stack, running_stack
from visionroll_demo.traffic import TrafficDriver

CONTROL_FAULTS = ("operator-kill", "apiserver-restart", "prometheus-stop")
POD_FAULTS = ("candidate-pod-kill", "stable-pod-kill", "router-pod-delete")
PROMETHEUS_DOWN_SECONDS = 15.0
SCENARIO_TIMEOUT = 900.0  # seconds a rollout under faults may take (the demo's own timeout is 240 s)


@dataclass
class Fault:
    kind: str
    scenario: str
    at: float  # seconds since the run began
    detail: str = ""
    wall: tuple[float, float] = (0.0, 0.0)  # epoch seconds the fault lasted (Prometheus' downtime)
    errors: int = 0  # client errors attributed to it (`attribute`)


@dataclass
class Run:
    faults: list[Fault] = field(default_factory=list)
    outcomes: list[tuple[Scenario, str, str]] = field(default_factory=list)
    promoted_without_data: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    client_codes: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[float, str, str, str]] = field(default_factory=list)  # (epoch s, code, variant, body)
    unattributed: int = 0
    cold_start: int = 0  # errors of a candidate's first seconds of traffic (`attribute`)
    late: int = 0  # answers that did not come in time, with no pod fault near (`attribute`, `is_late`)
    candidate_answers: int = 0  # 500s the candidate's model answered itself (a failing candidate's own errors)
    slow: list[tuple[float, float, str, str]] = field(default_factory=list)  # (epoch s, seconds, code, variant)
    slow_seconds: float = 0.0  # what counts as slow (the traffic driver's)
    slowest: float = 0.0


def _pod(stack: Stack, selector: str, namespace: str) -> dict[str, Any] | None:
    pods = stack.cluster.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
    running = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
    return running[0] if running else None


def _sigkill_container(pod: dict[str, Any]) -> int:
    """SIGKILL every process of the pod's first container, found on this host by its cgroup (the node runs here)."""
    statuses = pod["status"].get("containerStatuses") or []
    container_id = statuses[0]["containerID"].split("://")[-1] if statuses and statuses[0].get("containerID") else ""
    if not container_id:
        return 0
    killed = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if container_id in (p / "cgroup").read_text():
                os.kill(int(p.name), signal.SIGKILL)
                killed += 1
        except (OSError, ProcessLookupError):
            continue
    return killed


class Injector:
    """Strikes one fault at a time; each returns a detail line for the report."""

    def __init__(self, stack: Stack, log: Log) -> None:
        self.stack = stack
        self.log = log

    def strike(self, kind: str) -> tuple[str, tuple[float, float]]:
        t0 = time.time()
        detail = getattr(self, kind.replace("-", "_"))()
        return detail, (t0, time.time())

    def operator_kill(self) -> str:
        """SIGKILL to the operator's process, once its container runs again after the previous kill (at most 30 s)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pod = _pod(self.stack, f"app.kubernetes.io/instance={RELEASE}", RELEASE_NAMESPACE)
            statuses = (pod or {}).get("status", {}).get("containerStatuses") or [{}]
            if pod is not None and "running" in (statuses[0].get("state") or {}):
                killed = _sigkill_container(pod)
                if killed:
                    return f"SIGKILL to {killed} process(es) of {pod['metadata']['name']}"
            time.sleep(1)
        return "no running operator process within 30 s"

    def apiserver_restart(self) -> str:
        cluster = self.stack.cluster
        assert isinstance(cluster, LocalCluster), "the chaos run restarts the local API server"
        return f"API server back in {cluster.restart_apiserver():.1f} s"

    def prometheus_stop(self) -> str:
        self.stack.prometheus.pause()
        time.sleep(PROMETHEUS_DOWN_SECONDS)
        self.stack.prometheus.restart()
        return f"down {PROMETHEUS_DOWN_SECONDS:.0f} s"

    def _variant_pod(self, which: str) -> str:
        status = self.stack.get().get("status") or {}
        revision = (status.get(which) or {}).get("revision")
        if not revision:
            return f"no {which}"
        pod = _pod(self.stack, f"{vocabulary.LABEL_REVISION}={revision}", self.stack.namespace)
        if pod is None:
            return f"no running {which} pod"
        name = pod["metadata"]["name"]
        self.stack.cluster.kubectl(
            "delete", "pod", name, "-n", self.stack.namespace, "--grace-period=0", "--force", "--wait=false"
        )
        return f"SIGKILL (force delete) of {which} pod {name}"

    def candidate_pod_kill(self) -> str:
        return self._variant_pod("candidate")

    def stable_pod_kill(self) -> str:
        return self._variant_pod("stable")

    def router_pod_delete(self) -> str:
        pod = _pod(
            self.stack, f"{vocabulary.LABEL_COMPONENT}=router,{vocabulary.LABEL_MODEL}={NAME}", self.stack.namespace
        )
        if pod is None:
            return "no running router pod"
        self.stack.cluster.kubectl("delete", "pod", pod["metadata"]["name"], "-n", self.stack.namespace, "--wait=false")
        return f"deleted router pod {pod['metadata']['name']}"


def _in_canary(stack: Stack) -> bool:
    try:
        status = stack.get().get("status") or {}
    except Exception:  # the API server may be restarting: not known to be in a canary yet
        return False
    return status.get("stage") == "canary" and (status.get("weights") or {}).get("candidate", 0) > 0


def strike_during(
    stack: Stack,
    scenario: Scenario,
    plan: list[str],
    rng: random.Random,
    traffic: TrafficDriver,
    run: Run,
    t0: float,
    log: Log,
    done: threading.Event,
    gap: tuple[float, float],
) -> list[str]:
    """Strike the planned faults in order at random gaps while the rollout is in flight (pod kills wait for a
    canary step with traffic); returns the faults not struck (none when the plan is done) once the plan is done or
    `done` is set (the rollout ended first). Call it from the main thread: a
    process it restarts (the API server, Prometheus) is told to die with the thread that started it
    (PR_SET_PDEATHSIG), and the main thread outlives the run."""
    injector = Injector(stack, log)
    for i, kind in enumerate(plan):
        if done.wait(rng.uniform(*gap)):
            return plan[i:]
        if kind in ("candidate-pod-kill", "stable-pod-kill"):
            while not _in_canary(stack):
                if done.wait(1.0):
                    return plan[i:]
        fault = Fault(kind, scenario.short, time.monotonic() - t0)
        try:
            fault.detail, fault.wall = injector.strike(kind)
        except Exception as exc:  # a fault that could not be struck is reported, and the run goes on
            fault.detail = f"could not strike: {exc}"
        log(f"  !! {kind}: {fault.detail}")
        run.faults.append(fault)
    return []


def _advances_while_prometheus_was_down(recorder: Recorder, run: Run) -> list[str]:
    """Moves forward (more candidate weight, a later stage, a promotion) sampled while Prometheus was down, with two
    seconds of slack at the start for a tick that had measured just before: such a move was decided on nothing."""
    downs = [
        (a - recorder.wall0, b - recorder.wall0)
        for f in run.faults
        if f.kind == "prometheus-stop"
        for a, b in [f.wall]
        if b > a
    ]
    bad = []
    order = {None: 0, "shadow": 1, "split": 1, "canary": 2}
    for prev, cur in zip(recorder.samples, recorder.samples[1:], strict=False):
        forward = cur["weight"] > prev["weight"] or order.get(cur["stage"], 0) > order.get(prev["stage"], 0)
        if forward and cur["stage"] is not None:
            bad += [
                f"at {cur['t']:.0f}s: {prev['stage']} {prev['weight']}% -> {cur['stage']} {cur['weight']}%"
                for a, b in downs
                if a + 2 < cur["t"] < b
            ]
    for marker in recorder.markers:
        if marker["kind"] == "promoted":
            bad += [f"at {marker['t']:.0f}s: {marker['label']}" for a, b in downs if a + 2 < marker["t"] < b]
    return bad


def orphans(stack: Stack, name: str) -> list[str]:
    """Objects still labelled as the VisionModel's (every object the operator makes carries the label)."""
    kinds = "deployments,replicasets,pods,services,configmaps,horizontalpodautoscalers,endpointslices"
    items = stack.cluster.kubectl_json("get", kinds, "-n", stack.namespace, "-l", f"{vocabulary.LABEL_MODEL}={name}")
    return [f"{i['kind']}/{i['metadata']['name']}" for i in items["items"]]


def delete_and_check(stack: Stack, timeout: float = 180.0) -> list[str]:
    stack.cluster.kubectl("delete", "visionmodel", NAME, "-n", stack.namespace, "--wait=true", timeout=timeout)
    deadline = time.monotonic() + timeout
    left = orphans(stack, NAME)
    while left and time.monotonic() < deadline:
        time.sleep(2)
        left = orphans(stack, NAME)
    return left


def play_under_faults(
    stack: Stack,
    recorder: Recorder,
    traffic: TrafficDriver,
    plans: list[tuple[Scenario, list[str]]],
    *,
    seed: int,
    log: Log,
    gap: tuple[float, float] = (3.0, 8.0),
) -> Run:
    """Play each scenario with its fault plan; then delete the VisionModel and look for what is left."""
    rng = random.Random(seed)
    run = Run()
    t0 = time.monotonic()
    unstruck: list[str] = []  # operator kills a rollout ended before: carried into the next rollout's plan
    for scenario, planned in plans:
        plan = list(planned)
        if unstruck:
            plan += unstruck
            rng.shuffle(plan)
        done = threading.Event()
        box: dict[str, Any] = {}

        def rollout(scenario: Scenario = scenario, done: threading.Event = done, box: dict[str, Any] = box) -> None:
            try:
                box["result"] = play(stack, scenario, recorder, log)
            except BaseException as exc:  # reported by the main thread
                box["error"] = exc
            finally:
                done.set()

        player = threading.Thread(target=rollout, name="rollout", daemon=True)
        player.start()
        unstruck = [k for k in strike_during(stack, scenario, plan, rng, traffic, run, t0, log, done, gap)
                    if k == "operator-kill"]  # fmt: skip
        player.join()
        if "error" in box:
            raise box["error"]
        result = box["result"]
        run.outcomes.append((scenario, result.outcome, result.reason))
        time.sleep(5)
    attribute(run, traffic.answers, candidate_starts(recorder))
    run.promoted_without_data = _advances_while_prometheus_was_down(recorder, run)
    run.client_codes = dict(traffic.codes)
    run.slow, run.slow_seconds, run.slowest = list(traffic.slow), traffic.slow_seconds, traffic.slowest
    return run


POD_FAULT_REACH = 15.0  # seconds after a pod fault its lost connections and stale endpoints can still answer
CANDIDATE_START_REACH = 30.0  # seconds after a candidate's first traffic its first answers count as its start


def candidate_starts(recorder: Recorder) -> list[float]:
    """Epoch seconds at which a candidate first got traffic (weight or mirror), from the recorder's samples."""
    starts, live = [], False
    for sample in recorder.samples:
        now_live = bool(sample["weight"] or sample["mirror"])
        if now_live and not live:
            starts.append(recorder.wall0 + sample["t"])
        live = now_live
    return starts


LATE_SHARE = 0.005  # of the requests: late answers on this saturated 2-core node, reported and bounded


def is_late(code: str, body: str) -> bool:
    """The router's 504 (a variant did not answer within its upstream timeout) or the client's own timeout."""
    return code == "504" or (code == "error" and "Timeout" in body.split(":", 1)[0])


def attribute(run: Run, answers: list[tuple[float, str, str, str]], starts: list[float]) -> None:
    """Each client error to a cause: the latest pod fault of the POD_FAULT_REACH seconds before it (a killed pod's
    requests in flight, a stale endpoint); else, for an error the candidate answered within CANDIDATE_START_REACH
    seconds of its first traffic, the candidate's start (`cold_start`: not a fault's cost, a known open defect); a 500
    the candidate's model answered is its own failure (`candidate_answers`), whatever the faults;
    an answer that did not come in time (`is_late`) with no pod fault near is the node's saturation (`late`): neither
    the operator, the API server nor Prometheus is on a request's path, so none of them can make a variant slow;
    else the latest fault of any kind before it; errors before the first fault stay `unattributed`."""
    run.errors = sorted(answers)
    for t, code, variant, body in run.errors:  # code: "500", "502", "504", "error", ...
        before = [f for f in run.faults if 0 < f.wall[0] <= t]
        pods = [f for f in before if f.kind in POD_FAULTS and t - f.wall[0] <= POD_FAULT_REACH]
        if variant == "candidate" and code == "500":  # the candidate's own answer (4.0 fails on purpose)
            run.candidate_answers += 1
        elif pods:
            pods[-1].errors += 1
        elif is_late(code, body):
            run.late += 1
        elif variant == "candidate" and any(0 <= t - s <= CANDIDATE_START_REACH for s in starts):
            run.cold_start += 1
        elif before:
            before[-1].errors += 1
        else:
            run.unattributed += 1


def check(run: Run, *, min_operator_kills: int) -> list[str]:
    """What the run got wrong (empty when it held)."""
    problems = [
        f"{s.short}: {outcome} ({reason}), undisturbed: {s.expect}"
        for s, outcome, reason in run.outcomes
        if outcome != s.expect
    ]
    kills = [f for f in run.faults if f.kind == "operator-kill" and f.detail.startswith("SIGKILL")]
    if len(kills) < min_operator_kills:
        problems.append(f"only {len(kills)} operator kills struck (wanted {min_operator_kills})")
    problems += [f"promoted without data: {p}" for p in run.promoted_without_data]
    problems += [
        f"{f.kind} at {f.at:.0f}s cost clients {f.errors} errors"
        for f in run.faults
        if f.kind in CONTROL_FAULTS and f.errors
    ]
    sent = sum(run.client_codes.values())
    if run.late > max(1, LATE_SHARE * sent):
        problems.append(f"{run.late} answers did not come in time, more than {LATE_SHARE:.1%} of {sent} requests")
    problems += [f"left behind after delete: {o}" for o in run.orphans]
    return problems


def report(run: Run) -> str:
    lines = ["fault                 scenario                    at s  client errors  detail"]
    for f in run.faults:
        lines.append(f"{f.kind:<21} {f.scenario:<27} {f.at:5.0f}  {f.errors:13d}  {f.detail}")
    lines.append("")
    for s, outcome, reason in run.outcomes:
        mark = "same as undisturbed" if outcome == s.expect else f"UNDISTURBED: {s.expect}"
        lines.append(f"{s.short:<28} {outcome:<12} ({mark}) {reason[:90]}")
    lines.append(f"client answers by status: {run.client_codes}")
    first = f"{CANDIDATE_START_REACH:.0f} s"
    lines.append(
        f"errors in a candidate's first {first} of traffic: {run.cold_start}; before any fault: {run.unattributed}; "
        f"late with no pod fault near: {run.late}"
    )
    t0 = run.faults[0].wall[0] - run.faults[0].at if run.faults else 0.0
    for t, code, variant, body in run.errors:
        if code == "500" and variant == "candidate":
            continue  # counted above
        lines.append(f"  client error at {t - t0:5.0f}s: {code} from {variant}: {body[:110]}")
    lines.append(f"answers slower than {run.slow_seconds:g} s: {len(run.slow)} (slowest {run.slowest:.2f} s)")
    for t, took, code, variant in run.slow[:10]:
        lines.append(f"  slow answer at {t - t0:5.0f}s: {took:.2f} s, {code} from {variant}")
    lines.append(f"left behind after delete: {run.orphans or 'nothing'}")
    return "\n".join(lines)


def full_plan(rng: random.Random, operator_kills: int) -> list[tuple[Scenario, list[str]]]:
    """A 50/50 split of 5.0 (1.0 re-exported) against the stable 1.0, then the demo's three rollouts; the operator
    kills spread over the four at random, the other faults once each in the canary (pod kills mid-canary) and the
    shadow (Prometheus mid-analysis)."""
    scenarios = (split_of_the_same_weights("5.0", stable="1.0"), *SCENARIOS)
    each, more_for_the_first = divmod(operator_kills, len(scenarios))
    per = [each + (i < more_for_the_first) for i in range(len(scenarios))]
    extra: list[list[str]] = [
        [],
        ["apiserver-restart", "candidate-pod-kill", "stable-pod-kill", "router-pod-delete"],
        ["prometheus-stop"],
        [],
    ]
    plans = []
    for scenario, n, more in zip(scenarios, per, extra, strict=True):
        plan = ["operator-kill"] * n + more
        rng.shuffle(plan)
        # Undisturbed, each ends within a minute; with the operator down half of the time it takes a few.
        plans.append((dataclasses.replace(scenario, timeout=SCENARIO_TIMEOUT), plan))
    return plans


def main(argv: list[str] | None = None, log: Log = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m visionroll_demo.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--operator-kills", type=int, default=21)
    parser.add_argument("--rate", type=float, default=40.0, help="client requests per second")
    args = parser.parse_args(argv)
    stop_on_signals()
    rng = random.Random(args.seed)
    with running_stack(cache_root() / "run" / "chaos", log=log, namespace="chaos", min_replicas=2) as stack:
        traffic = TrafficDriver(stack.predictions_url, rate_per_second=args.rate, max_seconds=3600).start()
        recorder = Recorder(stack, lambda _: None).start()
        try:
            time.sleep(5)
            run = play_under_faults(
                stack, recorder, traffic, full_plan(rng, args.operator_kills), seed=args.seed, log=log
            )
        finally:
            recorder.stop()
            traffic.stop()
        run.orphans = delete_and_check(stack)
    log("\n=== chaos run, seed " + str(args.seed) + " (" + datetime.now(UTC).isoformat(timespec="seconds") + ")")
    log(report(run))
    problems = check(run, min_operator_kills=min(20, args.operator_kills))
    log("\n" + ("\n".join(f"PROBLEM: {p}" for p in problems) if problems else "held: every expectation met"))
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as interrupted:
        print(
            f"\ninterrupted ({interrupted or 'Ctrl-C'}); everything the chaos run started is stopped", file=sys.stderr
        )
        sys.exit(130)
