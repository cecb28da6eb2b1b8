"""Render a rollout record (the demo's JSON) as one PNG that tells the story at a glance.

Five rows share the time axis: traffic (candidate weight and mirror percent), p99 latency, error rate, the model
gates (drift, agreement), and the replicas of stable and candidate (their HPAs at work). Vertical markers show
promotions (green), rollbacks (red) and step changes (grey); each scenario is a shaded band with its title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MARKER_COLORS = {"promoted": "#1a9850", "rolled-back": "#d73027", "step": "#999999"}
BAND_COLORS = ["#eef5ff", "#fff4e6", "#f3eefc", "#eefaf0"]


def _series(samples: list[dict[str, Any]], key: str) -> tuple[list[float], list[float | None]]:
    return [s["t"] for s in samples], [s.get(key) for s in samples]


def render(record: dict[str, Any], path: Path) -> Path:
    samples: list[dict[str, Any]] = record["samples"]
    fig, axes = plt.subplots(5, 1, figsize=(13, 11), sharex=True, gridspec_kw={"height_ratios": [1.3, 1, 1, 1, 0.8]})
    traffic, latency, errors, model, replicas = axes

    for i, scenario in enumerate(record.get("scenarios", [])):
        for ax in axes:
            ax.axvspan(scenario["start"], scenario["end"], color=BAND_COLORS[i % len(BAND_COLORS)], zorder=0)
        traffic.text(
            scenario["start"] + 0.5,
            130 if i % 2 == 0 else 116,
            f"{scenario.get('short', scenario['title'])} → {scenario['outcome']}",
            ha="left",
            va="top",
            fontsize=8.5,
            fontweight="bold",
        )

    t, w = _series(samples, "weight")
    traffic.step(t, w, where="post", color="#2166ac", label="candidate weight %")
    t, m = _series(samples, "mirror")
    traffic.step(t, m, where="post", color="#8073ac", linestyle="--", label="mirrored to candidate %")
    traffic.set_ylim(-5, 135)
    traffic.set_ylabel("traffic %")

    t, v = _series(samples, "p99_candidate_ms")
    latency.plot(t, v, color="#d6604d", label="candidate p99 (router histogram)", marker=".", markersize=3, linewidth=1)
    latency.set_ylabel("p99 ms")

    t, v = _series(samples, "error_rate")
    errors.plot(t, v, color="#b2182b", marker=".", markersize=3, linewidth=1, label="candidate error rate")
    errors.set_ylabel("error rate")

    t, v = _series(samples, "drift")
    model.plot(t, v, color="#e08214", marker=".", markersize=3, linewidth=1, label="drift (JS divergence)")
    t, v = _series(samples, "agreement")
    model.plot(t, v, color="#542788", marker=".", markersize=3, linewidth=1, label="shadow agreement")
    model.set_ylim(-0.05, 1.05)
    for ax, key, color in (
        (latency, "latencyP99", "#d6604d"),
        (errors, "errorRate", "#b2182b"),
        (model, "drift", "#e08214"),
        (model, "agreement", "#542788"),
    ):
        for limit in record.get("thresholds", {}).get(key, []):
            ax.axhline(limit, color=color, linestyle=":", linewidth=1, alpha=0.8)
    model.set_ylabel("model gates")
    t, v = _series(samples, "stable_replicas")
    replicas.step(t, v, where="post", color="#1a9850", label="stable replicas (HPA)")
    t, v = _series(samples, "candidate_replicas")
    replicas.step(t, v, where="post", color="#2166ac", linestyle="--", label="candidate replicas")
    replicas.set_ylabel("pods")
    replicas.set_ylim(-0.2, max([3] + [s.get("stable_replicas") or 0 for s in samples]) + 0.5)
    replicas.set_xlabel("seconds since start")

    for marker in record.get("markers", []):
        color = MARKER_COLORS.get(marker["kind"], "#999999")
        for ax in axes:
            ax.axvline(marker["t"], color=color, linewidth=2 if marker["kind"] != "step" else 0.8, alpha=0.9)
        if marker["kind"] != "step":
            traffic.text(marker["t"], 92, f" {marker['label']}", color=color, fontsize=8, rotation=90, va="top")

    for ax in axes:
        ax.grid(alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(loc="center left" if ax is traffic else "upper left", fontsize=8, framealpha=0.8)
    fig.suptitle(record.get("title", "visionroll rollouts"), fontsize=13)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
