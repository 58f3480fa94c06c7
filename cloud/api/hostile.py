"""Input no field may hold, refused once for every route: text with NUL or a lone UTF-16
surrogate, numbers that are not finite or beyond 64 bits. And error bodies that are always
encodable.

Why here and not in each model: such values pass most pydantic types (``str`` takes a lone
surrogate, ``float`` takes ``NaN``, a ``dict[str, Any]`` takes anything) and then fail
below the API, as a 500: SQLite cannot encode a surrogate, PostgreSQL refuses NUL in text
and integers beyond its column, and the JSON encoder refuses ``NaN`` (issue 13, finding 8;
OWASP API Security Top 10 2023, API8 "Security misconfiguration": unhandled input must
not surface as server errors). One ASGI middleware checks the decoded path, the query
string, form bodies and JSON bodies before any route sees them, and answers 422 naming the
field. RFC 8259 §6 and §8.2 say why these values are refused from JSON: ``NaN``/``Infinity``
are not JSON at all, numbers beyond IEEE-754 double range or 64-bit integers do not
interoperate, and a lone surrogate is not a Unicode character.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The largest magnitude a number in a request may have: a signed 64-bit integer.
MAX_INT: Final = 2**63 - 1
#: Cheap screen of a raw JSON body: only a body with one of these is parsed and walked
#: (a ``\u`` escape of a surrogate or NUL; ``NaN``/``Infinity``; 19+ digit runs; large
#: exponents). Most bodies have none, and cost one regex scan.
_SUSPECT: Final = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)|NaN|Infinity|\d{19}|[eE]\+?\d{2}")
_BAD_CHAR: Final = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    m = _BAD_CHAR.search(value)
    if m is None:
        return None
    if m.group() == "\x00":
        return "text may not contain the NUL character"
    return "text may not contain a lone UTF-16 surrogate (not a Unicode character)"


def number_problem(value: float) -> str | None:
    """Why ``value`` is refused as a number, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "numbers must be finite (NaN, Infinity and numbers beyond 1e308 are refused)"
    if abs(value) > MAX_INT:
        return f"numbers must lie within ±{MAX_INT} (64-bit)"
    return None


def find_problem(
    value: Any, loc: tuple[str | int, ...]
) -> tuple[tuple[str | int, ...], str] | None:
    """The first hostile value in decoded JSON: its location and why, or None."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, loc)]
    while stack:
        v, at = stack.pop()
        if isinstance(v, str):
            why = text_problem(v)
            if why:
                return at, why
        elif isinstance(v, bool) or v is None:
            continue
        elif isinstance(v, int | float):
            why = number_problem(v)
            if why:
                return at, why
        elif isinstance(v, list):
            stack.extend((x, (*at, i)) for i, x in reversed(list(enumerate(v))))
        elif isinstance(v, dict):
            for k, x in reversed(list(v.items())):
                why = text_problem(k)
                if why:
                    return (*at, safe_text(k)), why
                stack.append((x, (*at, k)))
    return None


def safe_text(value: str) -> str:
    """``value`` with anything UTF-8 cannot encode written as a backslash escape."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def safe(value: Any) -> Any:
    """A JSON value that always encodes: strings made encodable, non-finite numbers as
    strings (error bodies only: never echo what cannot be sent back)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [safe(v) for v in value]
    if isinstance(value, dict):
        return {safe_text(str(k)): safe(v) for k, v in value.items()}
    return value


def refusal(loc: tuple[str | int, ...], msg: str) -> dict[str, Any]:
    """The one 422 shape (cloud/errors.py), without the input: it is what cannot be echoed."""
    return {"detail": [{"loc": safe(list(loc)), "msg": msg, "type": "value_error"}]}


def _params(raw: str) -> Iterator[tuple[str, str]]:
    return iter(parse_qsl(raw, keep_blank_values=True))


class RefuseHostileInput:
    """ASGI middleware: 422 for NUL or lone surrogates in the path, the query or a
    form/JSON body, and for non-finite or beyond-64-bit numbers in a JSON body.

    A JSON or form body is read whole here (FastAPI reads it whole anyway to parse it) and
    replayed to the app; other bodies (the CSV/xlsx import) stream through untouched and are
    checked cell by cell where they are parsed (cloud/catalogue/import_export.py).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._url_problem(scope)
        content_type = b""
        for k, v in scope.get("headers", ()):
            if k == b"content-type":
                content_type = v.split(b";")[0].strip().lower()
        body: bytes | None = None
        # Marketplaces' webhooks are verified over their raw bytes (cloud/api/channel_webhooks.py).
        pushed = str(scope.get("path", "")).startswith("/api/v1/channels/webhooks/")
        if (
            problem is None
            and not pushed
            and (
                content_type == b"application/json"
                or content_type.endswith(b"+json")
                or content_type == b"application/x-www-form-urlencoded"
            )
        ):
            body, more = b"", True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
            problem = self._body_problem(content_type, body)
        if problem is not None:
            await _answer(send, 422, refusal(*problem))
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _url_problem(scope: Scope) -> tuple[tuple[str | int, ...], str] | None:
        why = text_problem(scope.get("path", ""))
        if why:
            return ("path",), why
        query = scope.get("query_string", b"").decode("latin-1")
        if "%00" in query or "\x00" in query:
            for name, value in _params(query):
                why = text_problem(name) or text_problem(value)
                if why:
                    return ("query", safe_text(name)), why
            return ("query",), "text may not contain the NUL character"
        return None

    @staticmethod
    def _body_problem(content_type: bytes, body: bytes) -> tuple[tuple[str | int, ...], str] | None:
        if content_type == b"application/x-www-form-urlencoded":
            if b"%00" not in body and b"\x00" not in body:
                return None
            for name, value in _params(body.decode("latin-1")):
                why = text_problem(name) or text_problem(value)
                if why:
                    return ("body", safe_text(name)), why
            return None
        if not _SUSPECT.search(body):
            return None
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON: FastAPI answers its own 422 (json_invalid)
        return find_problem(decoded, ("body",))


async def _answer(send: Send, status: int, content: dict[str, Any]) -> None:
    data = json.dumps(content, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
