"""Invalid VisionModels, at least one per admission rule, shared by the pydantic tests and the real-API-server tests.

Each case names the field the error must name and a fragment of the message; the same table runs against the
pydantic models (tests/unit/api) and the API server's schema + CEL (tests/integration/test_crd_admission.py). A bound
checked by the schema (minimum, maximum, pattern) has the API server's and pydantic's own words, which share
"less than or equal to N", "greater than or equal to N" and the pattern itself; a CEL rule has ours, the same in both.
Values with Unicode whitespace are here on purpose: CEL's regular expressions are RE2, where `\\s` is ASCII only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    return doc


@dataclass(frozen=True)
class Case:
    id: str
    base: str  # which example it starts from
    mutate: Callable[[dict[str, Any]], None]
    field: str  # the path the API server's message names
    message: str  # a fragment of the message (the same words in CEL and pydantic)

    def manifest(self, name: str | None = None) -> dict[str, Any]:
        doc = copy.deepcopy(example(self.base))
        if name:
            doc["metadata"]["name"] = name
        self.mutate(doc)
        return doc


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is _DELETE:
            node.pop(leaf, None)
        else:
            node[leaf] = value

    return mutate


_DELETE = object()

# How a valid text goes bad in one dialect only: Python's `$` accepts a trailing newline, `\\s` the Unicode spaces,
# `\\d` the Unicode digits (U+0663 ARABIC-INDIC THREE, U+FF13 FULLWIDTH THREE).
_DIALECT_SUFFIXES = (
    ("trailing-newline", "\n"),
    ("trailing-no-break-space", "\u00a0"),
    ("trailing-em-space", "\u2003"),
    ("trailing-ideographic-space", "\u3000"),
)


def _dialect_values(path: str, good: str) -> list[tuple[str, Any]]:
    """A valid `good` text spoilt by each dialect difference; a leading Unicode digit where the text has digits."""
    values: list[tuple[str, Any]] = [(kind, good + suffix) for kind, suffix in _DIALECT_SUFFIXES]
    values.append(("leading-ideographic-space", "\u3000" + good))
    if any(c.isdigit() for c in good):
        values.append(("arabic-indic-digit", good.replace(next(c for c in good if c.isdigit()), "\u0663", 1)))
        values.append(("fullwidth-digit", good.replace(next(c for c in good if c.isdigit()), "\uff13", 1)))
    if path.endswith(".custom"):  # a list of gates: the bad text is a gate's name
        return [(kind, [{"name": text, "query": "1", "min": 0}]) for kind, text in values]
    return values


_GATEWAY = {"provider": "gateway-api", "gatewayApi": {"parentRefs": [{"name": "public"}]}}

CASES = [
    Case(
        "steps-not-increasing",
        "canary",
        _set("spec.rollout.canary.steps", [5, 50, 25]),
        "spec.rollout.canary.steps",
        "strictly increasing",
    ),
    Case(
        "steps-repeated",
        "canary",
        _set("spec.rollout.canary.steps", [5, 5, 100]),
        "spec.rollout.canary.steps",
        "strictly increasing",
    ),
    Case(
        "step-above-100", "canary", _set("spec.rollout.canary.steps", [5, 101]), "spec.rollout.canary.steps[1]", "100"
    ),
    Case("step-zero", "canary", _set("spec.rollout.canary.steps", [0, 50]), "spec.rollout.canary.steps[0]", "1"),
    Case(
        "split-not-100",
        "split",
        _set("spec.rollout.split.weights", [60, 50]),
        "spec.rollout.split.weights",
        "sum to 100",
    ),
    Case(
        "split-three-weights",
        "split",
        _set("spec.rollout.split.weights", [50, 25, 25]),
        "spec.rollout.split.weights",
        "2",
    ),
    Case(
        "max-below-min",
        "canary",
        _set("spec.autoscaling", {"minReplicas": 4, "maxReplicas": 2}),
        "spec.autoscaling.maxReplicas",
        "maxReplicas must be >= minReplicas",
    ),
    Case(
        "canary-without-section",
        "canary",
        _set("spec.rollout.canary", _DELETE),
        "spec.rollout.canary",
        "strategy canary needs the canary section",
    ),
    Case(
        "shadow-without-section",
        "shadow",
        _set("spec.rollout.shadow", _DELETE),
        "spec.rollout.shadow",
        "strategy shadow needs the shadow section",
    ),
    Case(
        "split-without-section",
        "split",
        _set("spec.rollout.split", _DELETE),
        "spec.rollout.split",
        "strategy split needs the split section",
    ),
    Case(
        "shadow-then-canary-without-canary",
        "shadow",
        _set("spec.rollout.shadow.thenPromote", "canary"),
        "spec.rollout.canary",
        "thenPromote canary needs the canary section",
    ),
    Case(
        "agreement-outside-shadow",
        "canary",
        _set("spec.rollout.analysis.gates.agreement", {"min": 0.9}),
        "spec.rollout.analysis.gates.agreement",
        "agreement gate needs strategy shadow",
    ),
    Case(
        "accuracy-without-threshold",
        "canary",
        _set("spec.rollout.analysis.gates.accuracy", {}),
        "spec.rollout.analysis.gates.accuracy",
        "accuracy needs min or maxDropVsStable",
    ),
    Case(
        "accuracy-min-above-one",
        "canary",
        _set("spec.rollout.analysis.gates.accuracy", {"min": 1.5}),
        "spec.rollout.analysis.gates.accuracy.min",
        "less than or equal to 1",
    ),
    Case(
        "accuracy-drop-negative",
        "canary",
        _set("spec.rollout.analysis.gates.accuracy", {"maxDropVsStable": -0.01}),
        "spec.rollout.analysis.gates.accuracy.maxDropVsStable",
        "greater than or equal to 0",
    ),
    Case(
        "labels-on-a-shadow-that-never-serves-the-candidate",
        "shadow",
        lambda doc: (
            _set("spec.rollout.shadow.thenPromote", "direct")(doc),
            _set("spec.rollout.analysis.gates.recall", {"min": 0.9})(doc),
        ),
        "spec.rollout.analysis.gates",
        "the accuracy and recall gates judge labelled live answers",
    ),
    Case(
        "latency-without-threshold",
        "canary",
        _set("spec.rollout.analysis.gates.latencyP99", {}),
        "spec.rollout.analysis.gates.latencyP99",
        "needs maxMs or maxRatioToStable",
    ),
    Case(
        "custom-without-bounds",
        "split",
        _set("spec.rollout.analysis.gates.custom", [{"name": "x", "query": "1"}]),
        "spec.rollout.analysis.gates.custom[0]",
        "needs min or max",
    ),
    Case(
        "custom-min-above-max",
        "split",
        _set("spec.rollout.analysis.gates.custom", [{"name": "x", "query": "1", "min": 2, "max": 1}]),
        "spec.rollout.analysis.gates.custom[0].min",
        "min must be <= max",
    ),
    Case(
        "custom-duplicate-names",
        "split",
        _set(
            "spec.rollout.analysis.gates.custom",
            [{"name": "x", "query": "1", "min": 0}, {"name": "x", "query": "2", "max": 1}],
        ),
        "spec.rollout.analysis.gates.custom",
        "unique",
    ),
    Case(
        "gateway-without-section",
        "canary",
        _set("spec.traffic", {"provider": "gateway-api"}),
        "spec.traffic.gatewayApi",
        "gateway-api needs the gatewayApi section",
    ),
    Case(
        "storage-uri-scheme",
        "canary",
        _set("spec.model.storageUri", "s3://bucket/digits.mar"),
        "spec.model.storageUri",
        "(https?|pvc)",
    ),
    Case("unknown-strategy", "canary", _set("spec.rollout.strategy", "blue-green"), "spec.rollout.strategy", "canary"),
    Case(
        "bad-duration",
        "canary",
        _set("spec.rollout.canary.stepDuration", "thirty seconds"),
        "spec.rollout.canary.stepDuration",
        "ms|s|m|h",
    ),
    Case(
        "error-rate-above-one",
        "canary",
        _set("spec.rollout.analysis.gates.errorRate", {"max": 1.5}),
        "spec.rollout.analysis.gates.errorRate.max",
        "1",
    ),
    Case(
        "mirror-percent-zero",
        "shadow",
        _set("spec.rollout.shadow.mirrorPercent", 0),
        "spec.rollout.shadow.mirrorPercent",
        "1",
    ),
    # --- names: the owned Services are <name>-<revision>, <name>-router, <name>-routing (DNS-1035 labels) ---
    Case(
        "name-too-long",
        "canary",
        _set("metadata.name", "d" * 31),
        "metadata.name",
        "metadata.name must be at most 30 characters",
    ),
    Case(
        "name-starts-with-a-digit",
        "canary",
        _set("metadata.name", "1digits"),
        "metadata.name",
        "metadata.name must start with a lowercase letter",
    ),
    Case("name-with-a-dot", "canary", _set("metadata.name", "digits.v2"), "metadata.name", "(a DNS-1035 label"),
    # --- durations: more than nothing, less than forever ---
    Case(
        "interval-zero",
        "canary",
        _set("spec.rollout.analysis.interval", "0s"),
        "spec.rollout.analysis.interval",
        "interval must be between 1s and 1h",
    ),
    Case(
        "interval-below-a-second",
        "shadow",
        _set("spec.rollout.analysis.interval", "999ms"),
        "spec.rollout.analysis.interval",
        "interval must be between 1s and 1h",
    ),
    Case(
        "interval-above-an-hour",
        "canary",
        _set("spec.rollout.analysis.interval", "1h0.5s"),
        "spec.rollout.analysis.interval",
        "interval must be between 1s and 1h",
    ),
    Case(
        "step-duration-zero",
        "canary",
        _set("spec.rollout.canary.stepDuration", "0ms"),
        "spec.rollout.canary.stepDuration",
        "stepDuration must be between 1s and 24h",
    ),
    Case(
        "step-duration-above-a-day",
        "canary",
        _set("spec.rollout.canary.stepDuration", "23h60m1s"),
        "spec.rollout.canary.stepDuration",
        "stepDuration must be between 1s and 24h",
    ),
    Case(
        "shadow-duration-zero",
        "shadow",
        _set("spec.rollout.shadow.duration", "0.0h"),
        "spec.rollout.shadow.duration",
        "shadow.duration must be between 1s and 168h",
    ),
    Case(
        "shadow-duration-above-a-week",
        "shadow",
        _set("spec.rollout.shadow.duration", "169h"),
        "spec.rollout.shadow.duration",
        "shadow.duration must be between 1s and 168h",
    ),
    Case(
        "split-duration-zero",
        "split",
        _set("spec.rollout.split.duration", "0m"),
        "spec.rollout.split.duration",
        "split.duration must be between 1s and 168h",
    ),
    Case(
        "split-duration-above-a-week",
        "split",
        _set("spec.rollout.split.duration", "10081m"),
        "spec.rollout.split.duration",
        "split.duration must be between 1s and 168h",
    ),
    Case(
        "progress-deadline-zero",
        "canary",
        _set("spec.rollout.progressDeadline", "0s"),
        "spec.rollout.progressDeadline",
        "progressDeadline must be between 1s and 720h",
    ),
    Case(
        "progress-deadline-above-30-days",
        "canary",
        _set("spec.rollout.progressDeadline", "721h"),
        "spec.rollout.progressDeadline",
        "progressDeadline must be between 1s and 720h",
    ),
    Case(
        # Past Go's time.ParseDuration range (about 2562047h): refused by the pattern, never a CEL evaluation error.
        "duration-beyond-go-range",
        "canary",
        _set("spec.rollout.progressDeadline", "9999999999h"),
        "spec.rollout.progressDeadline",
        "ms|s|m|h",
    ),
    # --- images: blank in any script is still blank ---
    *(
        Case(
            f"image-{label}",
            "canary",
            _set("spec.serving.image", value),
            "spec.serving.image",
            "image must be an image reference",
        )
        for label, value in (
            ("empty", ""),
            ("spaces", "   "),
            ("no-break-space", "\u00a0"),
            ("em-space", "\u2003"),
            ("ideographic-space", "\u3000"),
            ("trailing-no-break-space", "ghcr.io/visionroll/serving:0.1.0\u00a0"),
            ("inner-space", "ghcr.io/visionroll/serving :0.1.0"),
            ("uppercase-path", "ghcr.io/VisionRoll/serving:0.1.0"),
        )
    ),
    # --- storage URIs: a host, no way out of the path, nothing the node alone can reach ---
    Case(
        "storage-uri-unicode-space",
        "canary",
        _set("spec.model.storageUri", "https://models.example.com/digits\u00a02.0.mar"),
        "spec.model.storageUri",
        "(https?|pvc)",
    ),
    *(
        Case(f"storage-uri-{label}", base, _set("spec.model.storageUri", uri), "spec.model.storageUri", message)
        for label, base, uri, message in (
            ("no-host", "canary", "https:///digits-2.0.mar", "storageUri needs a host"),
            ("port-only", "split", "https://:8443/digits-2.0.mar", "storageUri needs a host"),
            ("decimal-address", "canary", "http://2852039166/latest/meta-data/", "storageUri needs a host"),
            ("octal-address", "canary", "http://0251.0376.0251.0376/x.mar", "storageUri needs a host"),
            ("port-out-of-range", "canary", "https://models.example.com:65536/d.mar", "storageUri needs a host"),
            ("backslash-host", "canary", "https://models.example.com\\@169.254.169.254/d.mar", "needs a host"),
            ("credentials", "canary", "https://user:secret@models.example.com/d.mar", "must not carry credentials"),
            ("dot-segment", "canary", "https://models.example.com/digits/../../etc/passwd", "'..' path segments"),
            ("dot-segment-at-end", "split", "https://models.example.com/digits/..", "'..' path segments"),
            ("encoded-dot-segment", "canary", "https://models.example.com/a/%2e%2e/b.mar", "'..' path segments"),
            ("mixed-encoded-dot-segment", "canary", "https://models.example.com/a/.%2E/b.mar", "'..' path segments"),
            ("encoded-slash-dot-segment", "canary", "https://models.example.com/a%2f..%2fb.mar", "'..' path segments"),
            ("metadata-aws", "canary", "http://169.254.169.254/latest/meta-data/", "link-local or cloud metadata"),
            ("link-local-port", "canary", "http://169.254.10.1:8080/d.mar", "link-local or cloud metadata"),
            ("metadata-gcp", "canary", "http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
            ("metadata-gcp-case-dot", "canary", "http://Metadata.Google.Internal./x.mar", "cloud metadata"),
            ("metadata-alibaba", "canary", "http://100.100.100.200/latest/meta-data/", "cloud metadata"),
            ("link-local-ipv6", "canary", "http://[fe80::1]/d.mar", "link-local or cloud metadata"),
            ("link-local-ipv6-zone", "canary", "http://[FE80::1%25eth0]:80/d.mar", "link-local or cloud metadata"),
            ("metadata-aws-ipv6", "canary", "http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
            ("metadata-ipv4-mapped", "canary", "http://[::ffff:169.254.169.254]/", "cloud metadata"),
            ("metadata-ipv4-mapped-hex", "canary", "http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "cloud metadata"),
            ("pvc-claim-not-a-name", "shadow", "pvc://Model_Store/digits/digits-3.0.mar", "needs a claim name"),
            ("pvc-no-path", "shadow", "pvc://model-store", "needs a claim name"),
            ("pvc-directory", "shadow", "pvc://model-store/digits/", "needs a claim name"),
            ("pvc-dot-segment", "shadow", "pvc://model-store/../../etc/shadow", "'..' path segments"),
            ("pvc-encoded-dot-segment", "shadow", "pvc://model-store/%2E%2e/x.mar", "'..' path segments"),
        )
    ),
    # --- regex dialects: Python's `$` also matches before a final newline, and its `\\d`/`\\s`/`\\w` are Unicode; RE2's
    # `$` is the end of the text and its classes are ASCII. Every pattern here spells its classes in ASCII, so a
    # trailing newline, a Unicode space or a non-ASCII digit is refused by both sides, field by field. ---
    *(
        Case(f"{label}-{kind}", base, _set(path, value), field, message)
        for label, base, path, field, message, good in (
            ("name", "canary", "metadata.name", "metadata.name", "metadata.name must start with", "digits"),
            ("model-name", "canary", "spec.model.name", "spec.model.name", "[a-z0-9]([-a-z0-9]*[a-z0-9])?", "digits"),
            ("version", "canary", "spec.model.version", "spec.model.version", "[A-Za-z0-9._-]{0,62}", "2.0"),
            ("step-duration", "canary", "spec.rollout.canary.stepDuration", None, "(ms|s|m|h)", "30s"),
            ("interval", "shadow", "spec.rollout.analysis.interval", None, "(ms|s|m|h)", "10s"),
            (
                "image-reference",
                "canary",
                "spec.serving.image",
                None,
                "image must be an image reference",
                "ghcr.io/a/b:1",
            ),
            ("storage-uri", "canary", "spec.model.storageUri", None, "(https?|pvc)", "https://models.example.com/d"),
            ("pvc-uri", "shadow", "spec.model.storageUri", None, "(https?|pvc)", "pvc://model-store/d.mar"),
            ("digest", "canary", "spec.model.digest", None, "sha256:[0-9a-f]{64}", "sha256:" + "0123456789abcdef" * 4),
            (
                "custom-gate-name",
                "split",
                "spec.rollout.analysis.gates.custom",
                "spec.rollout.analysis.gates.custom[0].name",
                "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
                "x",
            ),
        )
        for kind, value in _dialect_values(path, good)
        for field in [field or path]
    ),
    *(
        Case(
            f"cpu-{kind}",
            "canary",
            _set("spec.serving.resources", {"requests": {"cpu": value, "memory": "1Gi"}}),
            "spec.serving.resources.requests.cpu",
            "(m|k|Ki|M|Mi|G|Gi|T|Ti)",
        )
        for kind, value in (
            ("trailing-newline", "500m\n"),
            ("no-break-space", "500m\u00a0"),
            ("fullwidth-digit", "\uff15" + "00m"),
            ("arabic-indic-digits", "\u0665\u0660\u0660m"),
        )
    ),
    *(
        Case(f"digest-{label}", "canary", _set("spec.model.digest", value), "spec.model.digest", "sha256:[0-9a-f]{64}")
        for label, value in (
            ("no-algorithm", "0" * 64),
            ("md5", "md5:" + "0" * 32),
            ("short", "sha256:" + "0" * 63),
            ("uppercase", "sha256:" + "A" * 64),
            ("sha512", "sha512:" + "0" * 128),
        )
    ),
    Case(
        "storage-uri-arabic-indic-address",
        "canary",
        _set("spec.model.storageUri", "http://\u0661\u0666\u0669.254.169.254/latest/meta-data/"),
        "spec.model.storageUri",
        "(https?|pvc)",
    ),
    Case(
        "gateway-hostname-trailing-newline",
        "canary",
        _set(
            "spec.traffic",
            {**_GATEWAY, "gatewayApi": {**_GATEWAY["gatewayApi"], "hostnames": ["models.example.com\n"]}},
        ),
        "spec.traffic.gatewayApi.hostnames[0]",
        "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
    ),
    # --- split weights: both variants get traffic ---
    Case(
        "split-candidate-gets-nothing",
        "split",
        _set("spec.rollout.split.weights", [100, 0]),
        "spec.rollout.split.weights[1]",
        "greater than or equal to 1",
    ),
    Case(
        "split-stable-gets-nothing",
        "split",
        _set("spec.rollout.split.weights", [0, 100]),
        "spec.rollout.split.weights[0]",
        "greater than or equal to 1",
    ),
    # --- what the gateway-api provider cannot do ---
    Case(
        "gateway-cannot-mirror",
        "shadow",
        _set("spec.traffic", _GATEWAY),
        "spec.rollout.strategy",
        "strategy shadow needs provider router: gateway-api cannot mirror traffic",
    ),
    Case(
        "gateway-cannot-keep-sessions",
        "split",
        _set("spec.traffic", {**_GATEWAY, "stickyHeader": "x-visionroll-session"}),
        "spec.traffic.stickyHeader",
        "stickyHeader needs provider router",
    ),
    Case(
        "gateway-cannot-measure-router-gates",
        "canary",
        _set("spec.traffic", _GATEWAY),
        "spec.rollout.analysis.gates",
        "provider gateway-api cannot measure the latencyP99, errorRate, drift, agreement, accuracy and recall gates",
    ),
    Case(
        "gateway-without-custom-gates",
        "canary",
        lambda doc: (
            _set("spec.traffic", _GATEWAY)(doc),
            _set("spec.rollout.analysis.gates", {})(doc),
        ),
        "spec.rollout.analysis.gates",
        "provider gateway-api needs custom gates for a gated strategy",
    ),
    Case(
        "gateway-hostname-not-a-hostname",
        "canary",
        _set("spec.traffic", {**_GATEWAY, "gatewayApi": {**_GATEWAY["gatewayApi"], "hostnames": ["Models_Host"]}}),
        "spec.traffic.gatewayApi.hostnames[0]",
        "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
    ),
    # --- retired fields: a spec written for an older CRD is refused with the reason, not pruned in silence ---
    *(
        Case(
            f"requests-per-second-target-{value}",
            "canary",
            _set("spec.autoscaling.targetRequestsPerSecond", value),
            "spec.autoscaling.targetRequestsPerSecond",
            "targetRequestsPerSecond is not supported: autoscaling is on CPU only (targetCPUUtilization)",
        )
        for value in (50, 2.5)
    ),
    # --- numbers no real deployment needs ---
    *(
        Case(f"{path.rsplit('.', 1)[-1]}-{value}", base, _set(path, value), path, message)
        for base, path, value, message in (
            ("canary", "spec.serving.workers", 1000, "less than or equal to 64"),
            ("canary", "spec.serving.batchSize", 100000, "less than or equal to 256"),
            ("canary", "spec.serving.maxBatchDelayMs", 3600000, "less than or equal to 10000"),
            ("canary", "spec.serving.responseTimeoutSeconds", 86400, "less than or equal to 600"),
            ("canary", "spec.serving.gpu", 64, "less than or equal to 8"),
            ("canary", "spec.autoscaling.maxReplicas", 100000, "less than or equal to 1000"),
            ("canary", "spec.rollout.analysis.minSamples", 1000000000, "less than or equal to 100000"),
            ("canary", "spec.rollout.analysis.failureLimit", 1000, "less than or equal to 100"),
            ("canary", "spec.rollout.analysis.inconclusiveLimit", 1000, "less than or equal to 100"),
            ("shadow", "spec.rollout.shadow.mirrorPercent", 1000, "less than or equal to 100"),
            ("canary", "spec.rollout.analysis.gates.latencyP99.maxMs", 1e9, "less than or equal to 600000"),
            ("canary", "spec.rollout.analysis.gates.latencyP99.maxRatioToStable", 1000, "less than or equal to 100"),
        )
    ),
    *(
        Case(f"{label}", "canary", _set("spec.serving.resources", resources), field, message)
        for label, resources, field, message in (
            (
                "cpu-a-million-cores",
                {"requests": {"cpu": "1000000", "memory": "1Gi"}},
                "spec.serving.resources.requests.cpu",
                "cpu must be between 1m and 512",
            ),
            (
                "cpu-zero",
                {"requests": {"cpu": "0", "memory": "1Gi"}},
                "spec.serving.resources.requests.cpu",
                "cpu must be between 1m and 512",
            ),
            (
                "cpu-below-a-millicore",
                {"requests": {"cpu": "0.0001", "memory": "1Gi"}},
                "spec.serving.resources.requests.cpu",
                "cpu must be between 1m and 512",
            ),
            (
                "memory-a-petabyte",
                {"requests": {"cpu": "1"}, "limits": {"memory": "1000T"}},
                "spec.serving.resources.limits.memory",
                "memory must be between 1Mi and 4Ti",
            ),
            (
                # the API server admits it with a warning that a fractional byte value is invalid
                "memory-fractional-bytes",
                {"requests": {"cpu": "1", "memory": "1048576.5"}},
                "spec.serving.resources.requests.memory",
                "memory must be a whole number of bytes",
            ),
            (
                "memory-fractional-kibibytes",
                {"requests": {"cpu": "1"}, "limits": {"memory": "2097151.3Ki"}},
                "spec.serving.resources.limits.memory",
                "memory must be a whole number of bytes",
            ),
            (
                "requests-without-cpu",
                {"requests": {"memory": "1Gi"}},
                "spec.serving.resources.requests",
                "requests.cpu is needed",
            ),
            (
                # the default limit is 2Gi: a larger request alone cannot be scheduled
                "memory-request-above-default-limit",
                {"requests": {"cpu": "1", "memory": "4Gi"}},
                "spec.serving.resources.requests.memory",
                "requests.memory must be <= limits.memory",
            ),
            (
                "cpu-request-above-limit",
                {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1500m", "memory": "2Gi"}},
                "spec.serving.resources.requests.cpu",
                "requests.cpu must be <= limits.cpu",
            ),
        )
    ),
]
