"""Every import is one the import contracts see (pyproject.toml, `lint-imports`): none hidden behind importlib."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for root in ("operator", "serving", "devenv") for p in (ROOT / root).rglob("*.py"))
HIDDEN = re.compile(r"\bimport_module\(|\b__import__\(|\bimportlib\.util\b")


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_import_is_hidden_behind_importlib(path: Path) -> None:
    hidden = [n for n, line in enumerate(path.read_text().splitlines(), 1) if HIDDEN.search(line)]
    assert not hidden, f"{path.relative_to(ROOT)}:{hidden}: import it with an import statement"
