"""What `kubectl visionmodel status` prints: the rollout at a glance, the gates table, the last history entries."""

from __future__ import annotations

from visionroll.api import VisionModelStatus

HISTORY_SHOWN = 5


def _rev(r: object) -> str:
    version, revision = getattr(r, "version", None), getattr(r, "revision", None)
    return f"{version} ({revision})" if version else "-"


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def status_text(name: str, namespace: str, status: VisionModelStatus) -> str:
    s = status
    lines = [
        f"VisionModel {namespace}/{name}",
        f"  phase:      {s.phase}" + (f" ({s.pause_reason})" if s.phase == "Paused" and s.pause_reason else ""),
        f"  stable:     {_rev(s.stable)}",
        f"  candidate:  {_rev(s.candidate)}",
        f"  weights:    stable {s.weights.stable}%, candidate {s.weights.candidate}%"
        + (f", mirroring {s.mirror_percent}% to the candidate" if s.mirror_percent else ""),
    ]
    if s.candidate is not None:
        stage: str = s.stage or "-"
        if s.stage == "canary" and s.step is not None:
            stage += f" step {s.step + 1}"
        lines.append(f"  strategy:   {s.strategy or '-'}, stage {stage}, since {s.step_started_at or '-'}")
        lines.append(f"  checks:     {s.failed_checks} failed, {s.inconclusive_checks} inconclusive (in a row)")
    if s.handover is not None:
        lines.append(
            f"  handover:   waiting for {s.handover.replicas} ready candidate replica(s) since {s.handover.since}"
        )
    if s.held_replicas is not None:
        lines.append(f"  held:       stable kept at >= {s.held_replicas} replica(s) during the rollout")
    for r in s.retiring:
        lines.append(f"  retiring:   {_rev(r)} until {r.retire_at}")
    if s.message:
        lines.append(f"  message:    {s.message}")
    if s.analysis is not None:
        lines.append("")
        lines.append(f"Analysis at {s.analysis.time}: {s.analysis.verdict or '-'}")
        rows = [["GATE", "VALUE", "THRESHOLD", "SAMPLES", "VERDICT", "NOTE"]]
        for g in s.analysis.gates:
            value = "-" if g.value is None else f"{g.value:.4g}"
            rows.append([g.name, value, g.threshold, str(g.samples), g.verdict, g.message])
        lines.extend("  " + line for line in table(rows)) if len(rows) > 1 else lines.append("  (no gates configured)")
    if s.history:
        lines.append("")
        lines.append("History (newest last):")
        rows = [["TIME", "VERSION", "REVISION", "OUTCOME", "REASON"]]
        rows.extend([h.time, h.version, h.revision, h.outcome, h.reason] for h in s.history[-HISTORY_SHOWN:])
        lines.extend("  " + line for line in table(rows))
    return "\n".join(lines)
