"""A node's run directory must leave room for the unix sockets its components make there."""

from __future__ import annotations

from pathlib import Path

import pytest

from localkube import node


def test_a_short_run_directory_is_accepted() -> None:
    node.check_run_dir(node.NodeDirs(Path("/tmp/lk-up")))


def test_a_run_directory_too_long_for_the_kubelets_socket_is_refused_naming_it() -> None:
    run = Path("/tmp") / ("d" * 60)
    with pytest.raises(node.NodeError) as refused:
        node.check_run_dir(node.NodeDirs(run))
    message = str(refused.value)
    assert str(run) in message and "device-plugins/kubelet.sock" in message
    assert f"at most {node.MAX_SOCKET_PATH}" in message
