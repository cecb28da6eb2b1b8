"""Thin kopf glue: events in, ticks run, and the operator's one retry loop.

`visionroll.handlers.operator` registers the handlers on import; `runner.TickRunner` serialises and schedules ticks;
`retry` says what a failed tick leads to (a backoff, or a hold until something changes); `config.configure` sets kopf
up for production.
"""
