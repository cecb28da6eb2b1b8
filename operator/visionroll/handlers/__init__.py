"""Thin kopf glue: events in, reconcile called, errors mapped to kopf's retry semantics.

`visionroll.handlers.operator` registers the handlers on import; `runner.TickRunner` serialises and schedules ticks;
`config.configure` sets kopf up for production.
"""
