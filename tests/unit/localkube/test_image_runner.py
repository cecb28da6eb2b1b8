"""An image build interrupted (SIGTERM unwinds as KeyboardInterrupt) stops the command it was running: buildah
must not build on after `make` was stopped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localkube.images import _Runner


def test_an_interrupted_command_is_stopped_and_reaped(tmp_path: Path) -> None:
    started: list[int] = []

    def interrupted(line: str) -> None:
        started.append(int(line))
        raise KeyboardInterrupt("stopped by signal SIGTERM")

    runner = _Runner(tmp_path / "build.log")
    with pytest.raises(KeyboardInterrupt):
        runner.run(["sh", "-c", "echo $$; exec sleep 60"], progress=interrupted)
    with pytest.raises(ProcessLookupError):  # stopped and reaped: no such process any more
        os.kill(started[0], 0)
    assert "echo $$; exec sleep 60" in (tmp_path / "build.log").read_text()
