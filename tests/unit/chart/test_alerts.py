"""The alert rules (charts/visionroll/files/alerts.yaml): valid for Debian's promtool, each alert unit-tested with
`promtool test rules` (alerts_test.yaml), every series and label matcher one the operator or the router really
exports, and every model alert naming the VisionModel it is about."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from localkube import local
from support.rollout_sim import make_spec, run, script, stable_status
from visionroll import observability
from visionroll.rollout.types import Decision

HERE = Path(__file__).resolve().parent
ALERTS = HERE.parents[2] / "charts" / "visionroll" / "files" / "alerts.yaml"
CASES = HERE / "alerts_test.yaml"
MODEL_GROUP = "visionroll.rollouts"  # one alert per VisionModel
OPERATOR_GROUP = "visionroll.operator"  # the operator itself
# Labels Prometheus adds to every scraped series (the target's), and its own per-target series.
TARGET_LABELS = frozenset({"job", "instance"})
PROMETHEUS_SERIES = {"up": frozenset(TARGET_LABELS)}


def _rules() -> list[tuple[str, dict[str, Any]]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [(group["name"], rule) for group in groups for rule in group["rules"]]


def _alert_ids() -> list[str]:
    return [rule["alert"] for _, rule in _rules()]


# --- what the operator and the router export, from their real code paths ---


@dataclass(frozen=True)
class Exported:
    labels: dict[str, frozenset[str]]  # series name -> label names
    values: dict[tuple[str, str], frozenset[str]]  # (series name, label) -> values seen


def _samples(families: Iterable[Metric], into: Exported) -> None:
    labels: defaultdict[str, set[str]] = defaultdict(set)
    values: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for family in families:
        for sample in family.samples:
            labels[sample.name].update(sample.labels)
            for key, value in sample.labels.items():
                values[(sample.name, key)].add(value)
    into.labels.update({k: frozenset(v) for k, v in labels.items()})
    into.values.update({k: frozenset(v) for k, v in values.items()})


def _operator_decisions() -> list[Decision]:
    """Every decision of a canary rolled back on its errors, as the reconcile records them."""
    failing = run(make_spec(), stable_status(), measure=script(errorRate=(0.2, 500)))
    assert failing.outcomes[-1][1] == "rolled-back"
    return failing.decisions


class _Variants(BaseHTTPRequestHandler):
    """Stable (1.0) answers 7; the candidate (2.0) answers 503, as an overloaded TorchServe does."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = (200, {"top_k": [{"label": "7", "score": 0.9}]}) if self.path.endswith("/1.0") else (
            503, {"code": 503, "type": "ServiceUnavailableException", "message": "Model is busy"})  # fmt: skip
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def variants() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Variants)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _router_metrics(workdir: Path, upstream: str) -> str:
    """The router's own /metrics after its two kinds of traffic: a client request ("live", answered by stable) with
    its mirrored copy ("shadow", the candidate's 503), and a ground-truth label for the answer."""
    path = local.write_router_config(workdir / "router.json", {
        "namespace": "ml", "visionmodel": "digits", "model": "digits", "variants": [
            {"name": "stable", "revision": "1-0-aaaaaa", "version": "1.0", "upstream": upstream, "weight": 100},
            {"name": "candidate", "revision": "2-0-bbbbbb", "version": "2.0", "upstream": upstream, "weight": 0}],
        "shadow": {"variant": "candidate", "percent": 100}})  # fmt: skip
    with local.Router(config_file=path) as router:
        router.start()
        answer = requests.post(f"{router.url}/predictions/digits", data=b"\x89PNG\r\n\x1a\n", timeout=10,
                               headers={"Content-Type": "image/png", "X-Request-Id": "alerts-1"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        label = requests.post(f"{router.url}/feedback", json={"requestId": "alerts-1", "label": "7"}, timeout=10)
        assert label.status_code == 200, label.text
        for _ in range(100):  # the copy's answer and its comparison are recorded once it is back
            text = router.metrics_text()
            if "visionroll_router_shadow_comparisons_total{" in text:
                return text
            threading.Event().wait(0.05)
    raise AssertionError(f"the router recorded no comparison:\n{text}")


@pytest.fixture(scope="module")
def exported(variants: str, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    out = Exported(labels={}, values={})
    previous = stable_status()
    for decision in _operator_decisions():
        observability.record_decision(
            "alerts-test", "digits", decision, previous=previous, progress_deadline_seconds=600
        )
        previous = decision.status
    # The rollout in flight (started timestamp) is gone once it ended: record one that is still progressing.
    in_flight = next(d for d in _operator_decisions() if d.status.candidate is not None)
    observability.record_decision("alerts-test", "cats", in_flight, previous=stable_status())
    observability.record_tick(ok=True, seconds=0.1)
    _samples(observability.REGISTRY.collect(), out)
    observability.forget("alerts-test", "digits")
    observability.forget("alerts-test", "cats")

    _samples(text_string_to_metric_families(_router_metrics(tmp_path_factory.mktemp("router"), variants)), out)
    return out


# --- a small PromQL selector reader: metric names, label matchers, and by/on label lists ---

_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*")|(?P<range>\[[^\]]*\])|(?P<braces>\{[^}]*\})"""
    r"""|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<open>\()|(?P<close>\))|(?P<other>\S)"""
)
_MATCHER = re.compile(r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)""")
_GROUPING = {"by", "on", "without", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, operator, value)


def parse(expr: str) -> tuple[list[Selector], list[str]]:
    """The series selectors of `expr` and the labels its by/on/without/ignoring clauses name."""
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr)]
    selectors: list[Selector] = []
    grouping: list[str] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "ident" and text in _GROUPING and following[0] == "open":
            close = next(j for j in range(i + 1, len(tokens)) if tokens[j][0] == "close")
            grouping += [t for k, t in tokens[i + 2 : close] if k == "ident"]
            i = close + 1
            continue
        called = following[0] == "open" or (following[0] == "ident" and following[1] in ("by", "without"))
        if kind == "ident" and not called and text not in _KEYWORDS and text not in _GROUPING:
            matchers: tuple[tuple[str, str, str], ...] = ()
            if following[0] == "braces":
                body = following[1][1:-1]
                found = _MATCHER.findall(body)
                assert ",".join(f'{k}{o}"{v}"' for k, o, v in found) == re.sub(r"\s+|,\s*$", "", body), body
                matchers = tuple(found)
                i += 1
            selectors.append(Selector(text, matchers))
        i += 1
    return selectors, grouping


def test_the_reader_finds_selectors_matchers_and_grouping() -> None:
    selectors, grouping = parse(
        'sum by (namespace, visionmodel) (rate(a_total{x="1", y=~"p|q"}[5m])) > on (namespace) max(b) and c == 1'
    )
    a_total = Selector("a_total", (("x", "=", "1"), ("y", "=~", "p|q")))
    assert selectors == [a_total, Selector("b", ()), Selector("c", ())]
    assert grouping == ["namespace", "visionmodel", "namespace"]


# --- the checks ---


def _enumerated() -> dict[str, frozenset[str]]:
    """Label values the code defines as a closed set: a matcher on one of these must name a value that exists."""
    return {"phase": frozenset(observability.PHASES)}


@pytest.mark.parametrize("alert", _alert_ids())
def test_every_series_and_label_the_alert_reads_is_exported(alert: str, exported: Exported) -> None:
    rule = next(r for _, r in _rules() if r["alert"] == alert)
    selectors, grouping = parse(rule["expr"])
    known = exported.labels | PROMETHEUS_SERIES
    assert selectors, "an alert reads at least one series"
    for selector in selectors:
        assert selector.metric in known, f"{alert}: neither the operator nor the router exports {selector.metric}"
        labels = known[selector.metric] | TARGET_LABELS
        for label, op, value in selector.matchers:
            assert label in labels, f"{alert}: {selector.metric} has no label {label!r} (it has {sorted(labels)})"
            seen = exported.values.get((selector.metric, label), frozenset()) | _enumerated().get(label, frozenset())
            if op in ("=", "=~") and label not in TARGET_LABELS:
                wanted = value.split("|") if op == "=~" else [value]
                literal = [w for w in wanted if not set(w) & set(".^$*+?{}[]()|\\")]  # no regex, a value
                missing = [w for w in literal if w not in seen]
                assert not missing, f"{alert}: {selector.metric}{{{label}}} never takes {missing} (seen {sorted(seen)})"
    every = set().union(*(known[s.metric] for s in selectors)) | TARGET_LABELS
    assert set(grouping) <= every, f"{alert}: groups by labels no series it reads has: {set(grouping) - every}"


@pytest.mark.parametrize("alert", _alert_ids())
def test_every_model_alert_names_the_visionmodel(alert: str) -> None:
    group, rule = next((g, r) for g, r in _rules() if r["alert"] == alert)
    assert group in (MODEL_GROUP, OPERATOR_GROUP), f"{alert}: in unknown group {group}"
    if group == OPERATOR_GROUP:
        return
    # The firing cases of alerts_test.yaml pin the exact label set promtool computes: namespace and visionmodel in it.
    cases = yaml.safe_load(CASES.read_text())["tests"]
    fired = [a for c in cases for t in c["alert_rule_test"] if t["alertname"] == alert for a in t["exp_alerts"]]
    assert fired and all({"namespace", "visionmodel"} <= set(a["exp_labels"]) for a in fired), alert
    for text in (rule["annotations"]["summary"], rule["annotations"]["description"]):
        assert "{{ $labels.namespace }}" in text and "{{ $labels.visionmodel }}" in text, alert


def test_no_alert_waits_for_a_phase_that_does_not_exist() -> None:
    # The phases the operator sets (api/status.py Phase); an alert on another one can never fire.
    for _, rule in _rules():
        for phase in re.findall(r'phase=~?"([^"]+)"', rule["expr"]):
            assert set(phase.split("|")) <= set(observability.PHASES), (rule["alert"], phase)


def test_the_operator_scrape_keeps_the_visionmodel_namespace(render: Any) -> None:
    # The operator's series carry the VisionModel's own `namespace`; without honorLabels the Prometheus Operator's
    # target label (the operator's namespace) replaces it and every model alert names the wrong namespace.
    objects = render("monitoring.podMonitor.enabled=true", api_versions=("monitoring.coreos.com/v1",))
    monitors = [o for o in objects if o["kind"] in ("ServiceMonitor", "PodMonitor")]
    assert {m["kind"] for m in monitors} == {"ServiceMonitor", "PodMonitor"}
    for monitor in monitors:
        endpoints = monitor["spec"].get("endpoints") or monitor["spec"].get("podMetricsEndpoints")
        assert endpoints and all(e.get("honorLabels") is True for e in endpoints), monitor["metadata"]["name"]


def test_promtool_check_rules(promtool: str) -> None:
    proc = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_test_rules(promtool: str) -> None:
    proc = subprocess.run(
        [promtool, "test", "rules", CASES.name], cwd=HERE, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_has_cases_that_fire_and_stay_silent() -> None:
    cases = yaml.safe_load(CASES.read_text())["tests"]
    for _, rule in _rules():
        checks = [c for case in cases for c in case["alert_rule_test"] if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in checks), f"{rule['alert']}: no case where it fires"
        assert any(not c["exp_alerts"] for c in checks), f"{rule['alert']}: no case where it stays silent"


def test_every_alert_says_what_and_how_bad() -> None:
    for _, rule in _rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
