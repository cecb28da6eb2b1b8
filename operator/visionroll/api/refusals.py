"""A pydantic refusal in the API server's words: each error as `path: message`, the path spelled as kubectl spells it
(`spec.rollout.canary.steps[1]`), so that a status condition names the field as admission would have."""

from __future__ import annotations

from pydantic import ValidationError

_PREFIXES = ("Value error, ", "Assertion failed, ")


def refusals(error: ValidationError, *, root: str = "spec") -> list[tuple[str, str]]:
    """(path, message) of every error; a model validator's error sits at its model's path."""
    found = []
    for e in error.errors():
        path = root + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in e["loc"])
        message = e["msg"]
        for prefix in _PREFIXES:
            message = message.removeprefix(prefix)
        found.append((path, message))
    return found


def describe(error: ValidationError, *, root: str = "spec") -> str:
    """One line: `spec.a.b: message; spec.c: message`."""
    return "; ".join(f"{path}: {message}" for path, message in refusals(error, root=root))
