"""Time as data: the status keeps RFC 3339 strings, the core computes with aware datetimes passed in by the caller."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def stamp(when: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. `2024-05-01T12:00:00.250Z`."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def elapsed(since: str | None, now: datetime) -> float | None:
    """Seconds from a stamped time to now; None when the time was never recorded."""
    start = parse(since)
    return None if start is None else (now - start).total_seconds()


def later(now: datetime, seconds: float) -> str:
    return stamp(now + timedelta(seconds=seconds))
