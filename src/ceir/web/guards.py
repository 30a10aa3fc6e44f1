"""Checks every request passes before any route reads it: body size per route, no NUL in text."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ceir.errors import InvalidInput, PayloadTooLarge

# Any request whose route is not listed in the limits may send at most this much (forms, JSON).
DEFAULT_BODY_BYTES = 1024 * 1024
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
NUL_DETAIL = "A NUL character (0x00) is not allowed in {where}."


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """Requests whose path matches `pattern` may send at most `max_bytes` bytes of body."""

    pattern: re.Pattern[str]
    max_bytes: int
    what: str  # names the limit in the refusal: "a dump", "a bulk check"

    @classmethod
    def of(cls, pattern: str, max_bytes: int, what: str) -> BodyLimit:
        return cls(re.compile(pattern), max_bytes, what)


class TooLarge(PayloadTooLarge, HTTPException):  # type: ignore[misc]
    """Raised from `receive` once a body passes its limit. Also an HTTPException: FastAPI's body
    parsing lets those through instead of turning them into a 400."""

    def __init__(self, limit: BodyLimit) -> None:
        PayloadTooLarge.__init__(self, f"{limit.what} may be at most {limit.max_bytes} bytes.")
        self.status_code = 413


class NulInField(InvalidInput, HTTPException):  # type: ignore[misc]
    """Raised from `receive` once a multipart text field shows a NUL (an HTTPException too, as
    `TooLarge`)."""

    code = "invalid_request"
    title = "Invalid request"

    def __init__(self) -> None:
        InvalidInput.__init__(self, NUL_DETAIL.format(where="a form field"))
        self.status_code = 422


class _MultipartNul:
    """Watches a multipart body as it streams past for a NUL in a part that is not a file.

    Files (a PDF, a dump) may hold any byte; text fields end up in text columns.
    """

    def __init__(self, boundary: bytes) -> None:
        self.found = False
        self._broken = False
        self._header = [b"", b""]
        self._is_file = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": lambda d, a, b: self._add(0, d[a:b]),
                "on_header_value": lambda d, a, b: self._add(1, d[a:b]),
                "on_header_end": self._header_end,
                "on_part_data": self._part_data,
            },
        )

    def feed(self, chunk: bytes) -> None:
        if chunk and not self._broken:
            try:
                self._parser.write(chunk)
            except Exception:  # a malformed body: the route's own parser answers it
                self._broken = True

    def _part_begin(self) -> None:
        self._is_file = False

    def _add(self, which: int, data: bytes) -> None:
        self._header[which] += data

    def _header_end(self) -> None:
        name, value = self._header
        self._header = [b"", b""]
        if name.strip().lower() == b"content-disposition":
            self._is_file = b"filename" in parse_options_header(value)[1]

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._is_file and data.find(b"\x00", start, end) >= 0:
            self.found = True


def _watching_multipart(receive: Receive, content_type: bytes) -> Receive:
    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        return receive
    watcher = _MultipartNul(boundary)

    async def watched() -> Message:
        message = await receive()
        watcher.feed(message.get("body", b""))
        if watcher.found:
            raise NulInField
        return message

    return watched


class RequestGuard:
    """Refuses oversized bodies (413) by Content-Length at once and by counting the bytes as they
    arrive, so nothing is spooled past the limit; and refuses a NUL character in the path, the
    query, a URL-encoded form, a JSON body or a multipart text field (422): PostgreSQL text cannot
    hold one, and no field needs it. Multipart bodies are watched as they stream, not buffered."""

    def __init__(
        self, app: ASGIApp, limits: Sequence[BodyLimit], default_bytes: int = DEFAULT_BODY_BYTES
    ) -> None:
        self.app = app
        self.limits = list(limits)
        self.default = BodyLimit.of("", default_bytes, "A request body")

    def _limit_for(self, path: str) -> BodyLimit:
        return next((lim for lim in self.limits if lim.pattern.fullmatch(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope["query_string"]):
            where = "the path" if "\x00" in scope["path"] else "the query"
            await _refuse(send, 422, "invalid_request", NUL_DETAIL.format(where=where))
            return
        limit = self._limit_for(scope["path"])
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit.max_bytes:
            await _refuse(send, 413, "payload_too_large", TooLarge(limit).detail)
            return
        counted = _counting(receive, limit)
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media == b"multipart/form-data":
            counted = _watching_multipart(counted, headers[b"content-type"])
        if media in (b"application/x-www-form-urlencoded", b"application/json"):
            try:
                body, counted = await _buffered(counted)
            except TooLarge as exc:
                await _refuse(send, 413, "payload_too_large", exc.detail)
                return
            if _has_nul(media, body):
                await _refuse(send, 422, "invalid_request", NUL_DETAIL.format(where="the body"))
                return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watch)
        except TooLarge as exc:  # raised where no exception handler was on the way out
            if started:
                raise
            await _refuse(send, 413, "payload_too_large", exc.detail)
        except NulInField as exc:
            if started:
                raise
            await _refuse(send, 422, "invalid_request", exc.detail)


def _has_nul(media: bytes, body: bytes) -> bool:
    if media == b"application/json":  # written \u0000 (an escaped backslash before it is not)
        return b"\x00" in body or _JSON_NUL.search(body) is not None
    return b"\x00" in unquote_to_bytes(body.replace(b"+", b" "))


def _counting(receive: Receive, limit: BodyLimit) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit.max_bytes:
            raise TooLarge(limit)
        return message

    return counted


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole (already size-limited) body, and a `receive` that gives it again."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()  # the disconnect, when the app waits for it
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


async def _refuse(send: Send, status: int, code: str, detail: str) -> None:
    """A problem+json answer (RFC 9457) sent before the application saw the request."""
    title = {413: "Payload too large", 422: "Invalid request"}[status]
    body = json.dumps(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, "code": code}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def body_limits(document_bytes: int) -> list[BodyLimit]:
    """Each route that takes more than the default, with the limit its documentation states."""
    # Imported here: the domain routers import the web package, not the other way round.
    from ceir.network.api import MAX_DUMP_BYTES, MULTIPART_OVERHEAD
    from ceir.partners.api import MAX_CHECK_BYTES, MAX_JOB_BYTES
    from ceir.partners.declarations_api import MAX_DECLARATIONS_BYTES

    return [
        BodyLimit.of(
            r"/api/v1/operators/[^/]+/dumps", MAX_DUMP_BYTES + MULTIPART_OVERHEAD, "A dump"
        ),
        BodyLimit.of(r"/api/v1/partners/checks", MAX_CHECK_BYTES, "A bulk check"),
        BodyLimit.of(r"/api/v1/partners/jobs", MAX_JOB_BYTES, "A job file"),
        BodyLimit.of(
            r"/api/v1/partners/declarations", MAX_DECLARATIONS_BYTES, "A declarations file"
        ),
        BodyLimit.of(r"/api/v1/border-crossings", 8 * 1024 * 1024, "A push of crossings"),
        # Two documents (boarding pass, receipt) and the form's few fields.
        BodyLimit.of(
            r"/citizen/applications/new/appeal", 2 * document_bytes + 64 * 1024, "An appeal"
        ),
    ]
