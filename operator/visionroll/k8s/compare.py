"""Does a live object already hold everything we would apply? Then applying is skipped.

Server-side apply of an unchanged object is a no-op for storage, but it is still a request and an admission pass;
at hundreds of VisionModels each resync would cost thousands. An object whose every field we set is equal in the
live copy is left alone; defaults the API server added are extra fields and do not count. A false "different"
(a quantity the server canonicalised, say) only costs one no-op apply.
"""

from __future__ import annotations

from typing import Any


def contains(live: Any, desired: Any) -> bool:
    """True when every field of `desired` is present and equal in `live`; lists must match element by element."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(key in live and contains(live[key], value) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(contains(a, b) for a, b in zip(live, desired, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return live is desired
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(live) == float(desired)
    return bool(live == desired)


def up_to_date(live: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    if live is None:
        return False
    return contains(live.get("metadata", {}), desired.get("metadata", {})) and all(
        contains(live.get(key), value) for key, value in desired.items() if key not in ("metadata", "apiVersion")
    )
