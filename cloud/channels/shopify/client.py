"""A Shopify Admin REST client: one shop's access token, its errors sorted, its waits kept.

Shopify (shopify.dev "REST Admin API rate limits", "Authentication", "Paginating results"):
- ``X-Shopify-Access-Token`` authenticates; 401 (and 403 for an app whose access was taken
  away) means the shop must install or authorise the app again;
- 429 when the shop's bucket (40 calls, leaking 2 a second) is full: wait ``Retry-After``
  seconds, or — the header is sometimes missing — the time the bucket needs to leak a call;
- 5xx and answers that are not JSON (a front's HTML page) are worth retrying; other 4xx are
  ours to fix;
- the next page's address is in the ``Link`` header (``rel="next"``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson

from cloud.channels.ports import AuthRejected, ChannelError, Refused, Retryable

NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
#: With no ``Retry-After``: a call leaks out of the bucket in half a second; wait a little more.
DEFAULT_WAIT = 1.0


def next_page_info(link: str | None) -> str | None:
    """The ``page_info`` of the ``rel="next"`` address in a ``Link`` header, if any."""
    found = NEXT.search(link or "")
    if found is None:
        return None
    return dict(parse_qsl(urlsplit(found.group(1)).query)).get("page_info")


class AdminClient:
    """``site`` is ``https://<shop>.myshopify.com/admin/api/<version>``; ``now`` and ``sleep``
    are injected (tests run the simulator's virtual time)."""

    def __init__(
        self,
        http: httpx.Client,
        site: str,
        token: str,
        *,
        now: Callable[[], datetime],
        sleep: Callable[[float], object],
        attempts: int = 8,
    ) -> None:
        self.http, self.site, self.token = http, site.rstrip("/"), token
        self.now, self.sleep, self.attempts = now, sleep, attempts
        self.calls = 0

    def get(self, path: str, params: dict[str, str] | None = None) -> tuple[Any, httpx.Headers]:
        return self._retried("GET", path, params, None)

    def post(
        self, path: str, body: dict[str, Any], *, retried: bool = True
    ) -> tuple[Any, httpx.Headers]:
        """``retried=False``: one call, for a write that must not be sent twice blindly (an
        inventory adjustment has no idempotency key); the caller decides what to do."""
        if not retried:
            return self._once("POST", path, None, body)
        return self._retried("POST", path, None, body)

    def _retried(
        self, verb: str, path: str, params: dict[str, str] | None, body: dict[str, Any] | None
    ) -> tuple[Any, httpx.Headers]:
        delay = 1.0
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(verb, path, params, body)
            except Retryable as err:
                if attempt == self.attempts:
                    raise
                self.sleep(err.wait if err.wait is not None else delay)
                delay = min(delay * 2, 60.0)
        raise AssertionError("unreachable")

    def _once(
        self, verb: str, path: str, params: dict[str, str] | None, body: dict[str, Any] | None
    ) -> tuple[Any, httpx.Headers]:
        what = f"{verb} {path}"
        self.calls += 1
        try:
            r = self.http.request(
                verb,
                f"{self.site}/{path}",
                params=params,
                content=orjson.dumps(body) if body is not None else None,
                headers={
                    "X-Shopify-Access-Token": self.token,
                    "Accept": "application/json",
                    **({"Content-Type": "application/json"} if body is not None else {}),
                },
                timeout=30.0,
            )
        except httpx.HTTPError as err:
            raise Retryable(f"{what}: no answer ({type(err).__name__})") from None
        if r.status_code == 429:
            after = r.headers.get("Retry-After")
            try:
                wait = float(after) if after else DEFAULT_WAIT
            except ValueError:
                wait = DEFAULT_WAIT
            full = Retryable(f"{what}: 429, the shop's call bucket is full", max(wait, 0.5))
            full.sub_code = "429"  # refused before anything was done: safe to send again
            raise full
        try:
            data = orjson.loads(r.content) if r.content else {}
        except orjson.JSONDecodeError:
            kind = r.headers.get("content-type", "?").split(";")[0]
            raise Retryable(f"{what}: HTTP {r.status_code} answered {kind}, not JSON") from None
        if r.status_code in (401, 403):
            raise AuthRejected(f"{what}: HTTP {r.status_code} {_errors(data)}")
        if r.status_code >= 500:
            raise Retryable(f"{what}: HTTP {r.status_code} {_errors(data)}")
        if r.status_code >= 400:
            refused: ChannelError = Refused(f"{what}: HTTP {r.status_code} {_errors(data)}")
            refused.sub_code = str(r.status_code)
            raise refused
        return data, r.headers


def _errors(data: Any) -> str:
    errors = data.get("errors") if isinstance(data, dict) else None
    return str(errors)[:300] if errors is not None else ""
