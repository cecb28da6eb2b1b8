"""One tick for one VisionModel: snapshot, reconcile workloads and traffic, measure, decide, write status once.

`Reconciler(kube, settings, measurements=...).tick(namespace, name)` is synchronous and safe to call from several
threads for *different* VisionModels; the handlers serialise ticks of the same one.
"""

from __future__ import annotations

from visionroll.reconcile.tick import Reconciler, TickResult

__all__ = ["Reconciler", "TickResult"]
