"""The node's CoreDNS is built with only the plugins its Corefile uses: the two lists must not drift apart (a plugin
the Corefile names but the build left out stops CoreDNS at start with "unknown directive")."""

from __future__ import annotations

import re
from pathlib import Path

from localkube import build, node, versions


def _directives(corefile: str) -> set[str]:
    """The first word of each line inside the server block (plugin names; a plugin's own block is skipped)."""
    names: set[str] = set()
    depth = 0
    for line in corefile.splitlines():
        word = line.strip().split(" ", 1)[0]
        if depth == 1 and word and word != "}":
            names.add(word)
        depth += line.count("{") - line.count("}")
    return names


def test_every_directive_of_the_corefile_is_built_in() -> None:
    used = _directives(node._corefile(Path("/kubeconfig"), 1053, 8181))
    assert used == {"bind", "errors", "ready", "kubernetes", "cache"}
    assert used <= set(versions.COREDNS_PLUGINS)


def test_the_main_imports_each_plugin_and_sets_their_order() -> None:
    main = build._coredns_main(versions.COREDNS_PLUGINS)
    imported = re.findall(r'_ "github.com/coredns/coredns/plugin/(\w+)"', main)
    assert imported == list(versions.COREDNS_PLUGINS)
    order = re.search(r"dnsserver.Directives = \[\]string\{(.*?)\}", main)
    assert order is not None and order.group(1) == ", ".join(f'"{p}"' for p in versions.COREDNS_PLUGINS)


def test_the_binary_is_cached_by_version_plugins_and_kubernetes_libraries() -> None:
    path = build.bin_paths().coredns
    plugins = "-".join(versions.COREDNS_PLUGINS)
    assert path.parent.name == f"coredns-{versions.COREDNS}-{plugins}-kubernetes-{versions.KUBERNETES}"


def test_the_wrapper_gets_the_plugins_it_imports_at_the_pinned_version() -> None:
    tool = build._wrapper_tools()["coredns"]
    assert tool.main == build._coredns_main(versions.COREDNS_PLUGINS)
    gets = tool.get()
    assert f"github.com/coredns/coredns/plugin/kubernetes@{versions.COREDNS}" in gets
    assert f"github.com/coredns/coredns/coremain@{versions.COREDNS}" in gets
    assert len(gets) == 2 + len(versions.COREDNS_PLUGINS)
