"""`python -m visionroll_build.dashboards [--write | --check]`: generate the Grafana dashboards into the Helm chart."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from visionroll_build.dashboards.boards import DASHBOARDS

REPO_ROOT = Path(__file__).resolve().parents[3]
OUT_DIR = REPO_ROOT / "charts" / "visionroll" / "files" / "dashboards"


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, sort_keys=False) + "\n"


def expected_files() -> dict[Path, str]:
    return {OUT_DIR / f"{name}.json": render(name) for name in DASHBOARDS}


def stale_files() -> list[Path]:
    """Committed dashboards that differ from the generated ones, and generated-looking files no builder makes."""
    expected = expected_files()
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    stale += sorted(p for p in OUT_DIR.glob("*.json") if p not in expected)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the dashboards into the chart")
    mode.add_argument("--check", action="store_true", help="exit 1 when a committed dashboard is stale")
    args = parser.parse_args(argv)
    if args.write:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        expected = expected_files()
        for path in OUT_DIR.glob("*.json"):
            if path not in expected:
                path.unlink()
        for path, text in expected.items():
            path.write_text(text)
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    if args.check:
        stale = stale_files()
        for path in stale:
            hint = "run python -m visionroll_build.dashboards --write"
            print(f"stale: {path.relative_to(REPO_ROOT)} ({hint})", file=sys.stderr)
        return 1 if stale else 0
    for name in DASHBOARDS:
        sys.stdout.write(render(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
