"""Small builders for Grafana dashboard JSON (schemaVersion 39): panels, targets, variables, annotations.

Panels are laid out left to right in rows of 24 grid units; a `Row` starts a new line. Queries are given by template
name only, so no panel can carry PromQL that the analysis and the tests do not know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from visionroll_build.dashboards.queries import query

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24


@dataclass(frozen=True)
class Target:
    """One query of a panel: a template name, its legend, and whether it is an instant query (tables)."""

    template: str
    legend: str = ""
    instant: bool = False

    def json(self, ref_id: str) -> Json:
        out: Json = {
            "datasource": DATASOURCE,
            "refId": ref_id,
            "expr": query(self.template),
            "legendFormat": self.legend or "__auto",
            "range": not self.instant,
            "instant": self.instant,
        }
        return out


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    kind: str = "timeseries"  # timeseries | state-timeline | stat | table
    unit: str = "short"
    width: int = 12
    height: int = 8
    description: str = ""
    stack: bool = False
    bars: bool = False  # a timeseries drawn as bars: counts per window (decisions, verdicts)
    min: float | None = None
    max: float | None = None
    # Series whose legend matches this regular expression are drawn as dashed threshold lines.
    dashed: str = ""
    extra_options: Json = field(default_factory=dict)

    def json(self, panel_id: int, x: int, y: int) -> Json:
        defaults: Json = {"unit": self.unit, "color": {"mode": "palette-classic"}}
        if self.min is not None:
            defaults["min"] = self.min
        if self.max is not None:
            defaults["max"] = self.max
        if self.kind == "timeseries":
            defaults["custom"] = {
                "drawStyle": "bars" if self.bars else "line",
                "lineWidth": 1,
                "fillOpacity": 80 if self.bars else 30 if self.stack else 10,
                "showPoints": "never",
                "spanNulls": False,
                "stacking": {"mode": "normal" if self.stack else "none", "group": "A"},
            }
        overrides: list[Json] = []
        if self.dashed:
            overrides.append(
                {
                    "matcher": {"id": "byRegexp", "options": self.dashed},
                    "properties": [
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                        {"id": "custom.fillOpacity", "value": 0},
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                    ],
                }
            )
        options: Json = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}
        if self.kind in ("timeseries", "state-timeline"):
            options["tooltip"] = {"mode": "multi", "sort": "desc"}
        options.update(self.extra_options)
        ref_ids = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": {"defaults": defaults, "overrides": overrides},
            "options": options,
            "targets": [t.json(ref_ids[i]) for i, t in enumerate(self.targets)],
        }


@dataclass(frozen=True)
class Row:
    title: str


def layout(items: list[Panel | Row]) -> list[Json]:
    """Grid positions and ids: panels flow left to right and wrap; a Row starts a new line with a title."""
    out: list[Json] = []
    x = y = line_height = 0
    for panel_id, item in enumerate(items, start=1):
        if isinstance(item, Row):
            y, x, line_height = y + line_height, 0, 0
            grid = {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y}
            out.append({"id": panel_id, "type": "row", "title": item.title, "collapsed": False, "gridPos": grid})
            y += 1
            continue
        if x + item.width > GRID_WIDTH:
            y, x, line_height = y + line_height, 0, 0
        out.append(item.json(panel_id, x, y))
        x += item.width
        line_height = max(line_height, item.height)
    return out


def datasource_variable() -> Json:
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
    }


def query_variable(name: str, label: str, definition: str, *, multi: bool = False) -> Json:
    """A variable filled from `label_values(...)`; multi-value ones offer All (`.*`)."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": definition,
        "query": {"query": definition, "refId": f"{name}-values"},
        "current": {},
        "hide": 0,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        **({"allValue": ".*"} if multi else {}),
        "regex": "",
    }


def custom_variable(name: str, label: str, values: list[str]) -> Json:
    """A fixed list of values, multi-value with All (`.*`)."""
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "options": [{"text": v, "value": v, "selected": False} for v in values],
        "current": {"text": "All", "value": "$__all"},
        "hide": 0,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
    }


def window_variable() -> Json:
    """`$window` of the templates: an interval variable whose `auto` follows the time range (at least 1m, so a rate
    spans several scrapes)."""
    values = ["1m", "5m", "15m", "1h"]
    return {
        "name": "window",
        "label": "Window",
        "type": "interval",
        "query": ",".join(values),
        "options": [{"text": v, "value": v, "selected": False} for v in values],
        "auto": True,
        "auto_count": 60,
        "auto_min": "1m",
        "current": {"text": "auto", "value": "$__auto_interval_window"},
        "hide": 0,
        "refresh": 2,
    }


def annotation(name: str, template: str, *, title: str, tags: str, color: str) -> Json:
    """Markers from a Prometheus query: one region wherever the query has a value."""
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "iconColor": color,
        "expr": query(template),
        "step": "1m",
        "titleFormat": title,
        "tagKeys": tags,
        "textFormat": "",
        "useValueForTime": False,
    }


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    panels: list[Panel | Row],
    variables: list[Json],
    annotations: list[Json],
) -> Json:
    builtin: Json = {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["visionroll"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timezone": "",
        "annotations": {"list": [builtin, *annotations]},
        "templating": {"list": variables},
        "panels": layout(panels),
        "links": [],
    }


def expressions(board: Json) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and annotation queries."""
    found = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    found += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
    return found
