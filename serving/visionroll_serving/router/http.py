"""HTTP/1.1 framing shared by the router's server (router/server.py) and its upstream client (router/upstream.py):
heads parsed from a byte buffer, bodies by Content-Length or chunked, and answers written as one buffer.

Only what the router needs: no compression, no upgrades, no trailers kept. Header names are lower-cased; a
repeated header keeps its last value, except Content-Length and Transfer-Encoding, where any repetition or both
together are refused. The router never forwards a client's bytes as they came: every request to a variant is framed
anew from the parsed body, so a head the router reads differently from a variant cannot smuggle a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

MAX_HEAD_BYTES = 16 << 10  # a head longer than this is refused (aiohttp's per-line limit is 8190)
MAX_CHUNK_LINE = 1024

REASONS = {status.value: status.phrase for status in HTTPStatus}


@dataclass
class Request:
    method: str
    path: str  # without the query
    headers: dict[str, str]  # names lower-cased
    body: bytes
    client: str = ""  # the address the connection comes from (router/guard.py shares the forwarding slots by it)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]
    close: bool = False  # close the connection after this answer


class BadMessage(ValueError):
    """A head or body that is not HTTP/1.1 as the router reads it; the message says why."""


@dataclass
class Head:
    first_line: tuple[str, str, str]  # request: method, target, version; answer: version, status, reason
    headers: dict[str, str]
    length: int | None  # Content-Length; None when chunked or absent
    chunked: bool

    def keep_alive(self, version: str) -> bool:
        connection = self.headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection


def parse_head(buffer: bytearray) -> Head | None:
    """The head at the start of `buffer`, removed from it; None while it is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise BadMessage(f"head longer than {MAX_HEAD_BYTES} bytes")
        return None
    if end > MAX_HEAD_BYTES:
        raise BadMessage(f"head longer than {MAX_HEAD_BYTES} bytes")
    first_line, _, rest = buffer[:end].decode("latin-1").partition("\r\n")
    del buffer[: end + 4]
    first = first_line.split(" ", 2)
    if len(first) == 2:  # an answer's status line may leave out the reason
        first.append("")
    if len(first) != 3:
        raise BadMessage(f"malformed first line {first_line[:100]!r}")
    fields = [line.split(":", 1) for line in rest.split("\r\n")] if rest else []
    try:
        headers = {name.lower(): value.strip() for name, value in fields}
    except ValueError:
        raise BadMessage("malformed header line (no colon)") from None
    if len(headers) < len(fields):  # a repeated name: fine, unless it frames the body
        names = [field[0].lower() for field in fields]
        if names.count("content-length") > 1 or names.count("transfer-encoding") > 1:
            raise BadMessage("more than one Content-Length or Transfer-Encoding")
    length = None
    chunked = False
    if (encoding := headers.get("transfer-encoding")) is not None:
        if "content-length" in headers:
            raise BadMessage("both Content-Length and Transfer-Encoding")
        if encoding.lower() != "chunked":
            raise BadMessage(f"unsupported Transfer-Encoding {encoding!r}")
        chunked = True
    elif (declared := headers.get("content-length")) is not None:
        if not declared.isdigit():
            raise BadMessage(f"malformed Content-Length {declared!r}")
        length = int(declared)
    return Head((first[0], first[1], first[2]), headers, length, chunked)


@dataclass
class Chunked:
    """Decodes a chunked body from a buffer as it arrives (trailers are read and dropped)."""

    body: bytearray = field(default_factory=bytearray)
    _left: int = -1  # bytes of the current chunk still to come; -1: a size line is next
    _trailers: bool = False

    def feed(self, buffer: bytearray) -> bool:
        """Moves what `buffer` holds of the body into `body`; True once the body is complete."""
        while True:
            if self._trailers:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return False
                del buffer[: end + 2]
                if end == 0:
                    return True
            elif self._left < 0:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > MAX_CHUNK_LINE:
                        raise BadMessage("chunk size line too long")
                    return False
                size = bytes(buffer[:end]).split(b";", 1)[0].strip()
                del buffer[: end + 2]
                try:
                    self._left = int(size, 16)
                except ValueError:
                    raise BadMessage(f"malformed chunk size {size[:20]!r}") from None
                if self._left == 0:
                    self._trailers = True
            elif self._left > 0:
                if not buffer:
                    return False
                take = min(self._left, len(buffer))
                self.body += buffer[:take]
                del buffer[:take]
                self._left -= take
            else:  # the CRLF after a chunk's data
                if len(buffer) < 2:
                    return False
                if buffer[:2] != b"\r\n":
                    raise BadMessage("chunk data not followed by CRLF")
                del buffer[:2]
                self._left = -1


def answer_bytes(response: Response, *, close: bool) -> bytes:
    """A whole answer: status line, the headers, Content-Length, Connection: close when closing, and the body."""
    status, body = response.status, response.body
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
