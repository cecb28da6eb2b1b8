"""Admission rules written once and checked twice: as CEL by the API server, and in Python by the pydantic models.

The API server runs `x-kubernetes-validations` in CEL, where `matches()` is RE2 (Go's `regexp`), `duration()` is Go's
`time.ParseDuration` and `quantity()` is Kubernetes' `resource.ParseQuantity`. Python differs in small ways that
matter at a boundary: `re`'s `\\s`, `\\d` and `\\w` are Unicode where RE2's are ASCII, and Python's `$` also matches
before a final newline. So the patterns here use explicit ASCII character classes only (never `\\s`, `\\d`, `\\w`,
`\\b` or flags), `matches` reads `$` as RE2 does, and `duration_ns` and `quantity` repeat Go's arithmetic (nanosecond
truncation, rounding up to a nano-unit), so that CEL and Python accept and refuse the same texts.

A `Check` is one rule on one string value; `checked(...)` turns checks into the `Annotated` metadata of a field: the
CEL rules in its schema and an after-validator that applies the same checks in Python.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pydantic import AfterValidator, ConfigDict, Field, JsonValue

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, str]:
    """One `x-kubernetes-validations` entry."""
    entry = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


def rules(*entries: dict[str, str]) -> ConfigDict:
    """A model config carrying CEL rules into the generated schema."""
    validations: list[JsonValue] = [dict(e) for e in entries]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})


def matches(pattern: str, text: str) -> bool:
    """CEL's `text.matches(pattern)`: an unanchored RE2 search, where `$` is only the end of the text."""
    return re.search(pattern.replace("$", r"\Z"), text) is not None


def lower_ascii(text: str) -> str:
    """CEL's `lowerAscii()`: only A-Z change (Python's `lower()` also folds e.g. the Kelvin sign into `k`)."""
    return text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class Check:
    """One rule on one string value: the CEL expression over `self`, its message, and the same test in Python."""

    rule: str
    message: str
    holds: Callable[[str], bool]


def checked(*checks: Check, **field: Any) -> tuple[Any, AfterValidator]:
    """`Annotated` metadata for a string field: `Field(**field)` with the checks' CEL rules, and a validator that
    refuses a value with the messages of every check it fails (the API server also reports every failed rule)."""

    def validate(value: str) -> str:
        failed = [c.message for c in checks if not c.holds(value)]
        if failed:
            raise ValueError("; ".join(failed))
        return value

    validations: list[JsonValue] = [dict(cel(c.rule, c.message)) for c in checks]
    return Field(**field, json_schema_extra={"x-kubernetes-validations": validations}), AfterValidator(validate)


# --- durations ----------------------------------------------------------------------------------------------------

# At most 5 integer and 9 fraction digits a part, and 4 parts ("1h30m15s500ms"): the largest value, 4 × 99999.9…h,
# stays far below Go's limit of about 2562047h, so `duration()` never fails on a text that matches.
DURATION_PATTERN = r"^([0-9]{1,5}(\.[0-9]{1,9})?(ms|s|m|h)){1,4}$"
_DURATION_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ms|s|m|h)")
_UNIT_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def duration_ns(text: str) -> int:
    """Nanoseconds in a duration such as `30s`, `1h30m`, `500ms`, computed as Go's `time.ParseDuration` does
    (fractions through float64, truncated to whole nanoseconds); ValueError naming the text."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m, 500ms")
    total = 0
    for whole, fraction, unit in _DURATION_PART.findall(text):
        unit_ns = _UNIT_NS[unit]
        total += int(whole) * unit_ns
        if fraction and int(fraction):
            total += int(float(int(fraction)) * (float(unit_ns) / float(10 ** len(fraction))))
    return total


def parse_duration(text: str) -> float:
    """Seconds in a duration such as `30s`, `1m30s`, `500ms`; raises ValueError naming the text."""
    return duration_ns(text) / 1e9


def duration_between(field: str, low: str, high: str) -> Check:
    """`field` (a duration) lies in [low, high]. A text that is not a duration is left to the field's pattern."""
    least, most = duration_ns(low), duration_ns(high)

    def holds(text: str) -> bool:
        return not matches(DURATION_PATTERN, text) or least <= duration_ns(text) <= most

    return Check(
        f"!self.matches(r'{DURATION_PATTERN}') || "
        f"(duration(self) >= duration('{low}') && duration(self) <= duration('{high}'))",
        f"{field} must be between {low} and {high}",
        holds,
    )


# --- resource quantities ------------------------------------------------------------------------------------------

# A subset of Kubernetes' quantity syntax (no exponents, no signs): what a person writes for CPU and memory.
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]+)?)(m|k|Ki|M|Mi|G|Gi|T|Ti)?")
_SUFFIX: dict[str, Fraction] = {
    "": Fraction(1),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
}


def quantity(text: str) -> Fraction:
    """The exact value of a quantity, rounded up to a nano-unit as `resource.ParseQuantity` does; ValueError naming
    the text when it does not match QUANTITY_PATTERN."""
    found = _QUANTITY.fullmatch(text) if re.fullmatch(QUANTITY_PATTERN, text) else None
    if found is None:
        raise ValueError(f"invalid quantity {text!r}: expected e.g. 500m, 2, 1Gi, 512Mi")
    value = Fraction(found.group(1)) * _SUFFIX[found.group(2) or ""]
    return Fraction(math.ceil(value * 10**9), 10**9)


def quantity_between(field: str, low: str, high: str) -> Check:
    """`field` (a quantity) lies in [low, high]. A text that is not a quantity is left to the field's pattern."""
    least, most = quantity(low), quantity(high)

    def holds(text: str) -> bool:
        return not matches(QUANTITY_PATTERN, text) or least <= quantity(text) <= most

    return Check(
        f"!self.matches(r'{QUANTITY_PATTERN}') || "
        f"(quantity(self).compareTo(quantity('{low}')) >= 0 && quantity(self).compareTo(quantity('{high}')) <= 0)",
        f"{field} must be between {low} and {high}",
        holds,
    )


def whole_quantity(field: str, unit: str) -> Check:
    """`field` (a quantity) is a whole number of `unit`s: the API server calls a fractional byte value invalid."""

    def holds(text: str) -> bool:
        return not matches(QUANTITY_PATTERN, text) or quantity(text).denominator == 1

    return Check(
        f"!self.matches(r'{QUANTITY_PATTERN}') || quantity(self).isInteger()",
        f"{field} must be a whole number of {unit} (e.g. 512Mi or 1.5Gi, not 1048576.5 or 1.3Ki)",
        holds,
    )


# --- container images ---------------------------------------------------------------------------------------------

# The image reference grammar of distribution/reference, which the kubelet parses (a reference it cannot parse leaves
# the pod in InvalidImageName): [domain[:port]/]path[:tag][@digest], lowercase path components, no whitespace.
_DOMAIN_PART = r"([A-Za-z0-9]|[A-Za-z0-9][-A-Za-z0-9]*[A-Za-z0-9])"
_IMAGE_DOMAIN = rf"({_DOMAIN_PART}(\.{_DOMAIN_PART})*|\[[0-9A-Fa-f:]+\])(:[0-9]+)?"
_PATH_PART = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][-A-Za-z0-9_.]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
IMAGE_PATTERN = rf"^({_IMAGE_DOMAIN}/)?{_PATH_PART}(/{_PATH_PART})*(:{_TAG})?(@{_DIGEST})?$"

IMAGE_CHECKS = (
    Check(
        f"self.matches(r'{IMAGE_PATTERN}')",
        "image must be an image reference such as registry.example.com/team/serving:1.0 (no spaces, lowercase path)",
        lambda text: matches(IMAGE_PATTERN, text),
    ),
)


# --- model archive URIs -------------------------------------------------------------------------------------------

# The archive is fetched by the pod's init container (Python's urllib: it follows the URI as written, and sends no
# user@ credentials). What it must never reach is the node's link-local network or a cloud's metadata service. A
# host name that merely resolves there cannot be seen at admission; every spelling of an address can, so an http(s)
# host is a DNS name whose last label starts with a letter, a dotted IPv4 address without leading zeros (glibc also
# reads 2852039166, 0xa9fea9fe and 0251.0376.0251.0376 as 169.254.169.254) or a bracketed IPv6 address.
STORAGE_URI_PATTERN = r"^(https?|pvc)://[!-~]+$"  # printable ASCII, no spaces
_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9_]*[A-Za-z0-9])?"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9][0-9]|6[0-4][0-9][0-9][0-9]|[1-5][0-9][0-9][0-9][0-9]|[1-9][0-9]{0,3})"
_HOST = rf"(({_LABEL}\.)*[A-Za-z]([-A-Za-z0-9_]*[A-Za-z0-9])?\.?|{_OCTET}(\.{_OCTET}){{3}}|\[[0-9A-Fa-f:.]+\])"
HTTP_HOST_PATTERN = rf"^https?://{_HOST}(:{_PORT})?([/?#]|$)"
HTTP_CREDENTIALS_PATTERN = r"^https?://[^/?#]*@"
# Matched against the lowercased URI: 169.254.0.0/16 (AWS, Azure, GCP, OCI metadata at .169.254), Alibaba's
# 100.100.100.200, the metadata host names, fe80::/10, AWS's fd00:ec2::/32, and IPv6 literals that carry an IPv4
# address (::ffff:169.254.169.254 reaches 169.254.169.254 through a dual-stack socket).
FORBIDDEN_HOST_PATTERN = (
    r"^https?://("
    r"169\.254\.[0-9]{1,3}\.[0-9]{1,3}|100\.100\.100\.200"
    r"|(metadata|metadata\.google\.internal|instance-data|instance-data\.ec2\.internal)\.?"
    r"|\[fe[89ab][0-9a-f]:[^\]]*\]|\[fd00:0?ec2:[^\]]*\]|\[[0:]*ffff:[^\]]*\]|\[[^\]]*\.[^\]]*\]"
    r")([:/?#]|$)"
)
# A `..` segment, literal or percent-encoded, between any of the separators a server may decode (/, \, %2f, %5c).
DOT_SEGMENT_PATTERN = r"^[a-z]+://[^?#]*(/|\\|%2f|%5c)(\.|%2e)(\.|%2e)([/\\?#]|%2f|%5c|$)"
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
PVC_PATTERN = rf"^pvc://{_SUBDOMAIN}(/[^/?#]+)+$"


def _http(text: str) -> bool:
    return matches(r"^https?://", text)


STORAGE_URI_CHECKS = (
    Check(
        f"!self.matches(r'^https?://') || self.matches(r'{HTTP_HOST_PATTERN}')",
        "storageUri needs a host: a DNS name, a dotted IPv4 or a bracketed IPv6 address, then an optional port",
        lambda text: not _http(text) or matches(HTTP_HOST_PATTERN, text),
    ),
    Check(
        f"!self.matches(r'{HTTP_CREDENTIALS_PATTERN}')",
        "storageUri must not carry credentials (user@host): the archive fetch does not send them",
        lambda text: not matches(HTTP_CREDENTIALS_PATTERN, text),
    ),
    Check(
        f"!self.lowerAscii().matches(r'{FORBIDDEN_HOST_PATTERN}')",
        "storageUri must not point at a link-local or cloud metadata address",
        lambda text: not matches(FORBIDDEN_HOST_PATTERN, lower_ascii(text)),
    ),
    Check(
        f"!self.lowerAscii().matches(r'{DOT_SEGMENT_PATTERN}')",
        "storageUri must not contain '..' path segments (nor %2e%2e)",
        lambda text: not matches(DOT_SEGMENT_PATTERN, lower_ascii(text)),
    ),
    Check(
        f"!self.startsWith('pvc://') || self.matches(r'{PVC_PATTERN}')",
        "storageUri pvc://<claim>/<path> needs a claim name (a DNS-1123 subdomain) and a file path inside the claim",
        lambda text: not text.startswith("pvc://") or matches(PVC_PATTERN, text),
    ),
)
