"""A TOP client: one signed call, its envelope unwrapped, its errors sorted.

TOP (open.taobao.com, "API调用方法详解" and 错误码): ``POST /router/rest``; the system parameters
go in the query string and the API's own in a UTF-8 form body; the answer is HTTP 200 with one
top-level key, ``<method less "taobao.", dots as underscores>_response``, or
``error_response`` (``code``, ``msg``, ``sub_code``, ``sub_msg``). Codes we act on:

- 7 (App Call Limited): wait; ``sub_msg`` may say "This ban will last for N more seconds";
- 27 (Invalid session) and 26/53 (session missing or expired): the seller must authorise again;
- 15 with ``sub_code`` ``isp.*``: the platform's own fault, retry; ``isv.*``: ours, do not;
- anything that is not such JSON (an HTML error page from the front): retry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import orjson

from cloud.channels.ports import AuthRejected, ChannelError, Refused, Retryable
from cloud.channels.taobao.signing import top_sign

GMT8 = timezone(timedelta(hours=8))
AUTH_CODES = frozenset({26, 27, 53})
BAN = re.compile(r"(\d+)\s+more\s+seconds")


def top_time(at: datetime) -> str:
    """TOP's time format: ``yyyy-MM-dd HH:mm:ss`` in GMT+8."""
    return at.astimezone(GMT8).strftime("%Y-%m-%d %H:%M:%S")


def parse_top_time(text: Any) -> datetime:
    if not isinstance(text, str):
        raise Refused(f"a time is not text: {text!r}")
    return _top_time(text)


@functools.lru_cache(maxsize=8192)
def _top_time(text: str) -> datetime:
    # Cached: a page of 100 trades sold within seconds of each other carries a handful of
    # distinct times, each parsed three times (list, back-pass check, trade); strptime costs
    # more than the rest of a row's reading. A refusal is not cached (an exception).
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
    except ValueError:
        raise Refused(f"a time is not yyyy-MM-dd HH:mm:ss: {text[:40]!r}") from None


class TopClient:
    """Calls one shop's session. ``now`` and ``sleep`` are injected (tests run virtual time)."""

    def __init__(
        self,
        http: httpx.Client,
        url: str,
        app_key: str,
        secret: str,
        session: str,
        *,
        sign_method: str = "hmac-sha256",
        now: Callable[[], datetime],
        sleep: Callable[[float], object],
        attempts: int = 8,
    ) -> None:
        self.http, self.url = http, url
        self.app_key, self.secret, self.session = app_key, secret, session
        self.sign_method, self.now, self.sleep, self.attempts = sign_method, now, sleep, attempts
        self.calls = 0

    def call(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        """The body under the method's response key; retries what is worth retrying."""
        delay = 1.0
        for attempt in range(1, self.attempts + 1):
            try:
                return self._once(method, params)
            except Retryable as err:
                if attempt == self.attempts:
                    raise
                # A stated ban is waited out exactly (plus a second: it is rounded down);
                # otherwise back off, doubling, to a minute.
                self.sleep(err.wait + 1.0 if err.wait is not None else delay)
                delay = min(delay * 2, 60.0)
        raise AssertionError("unreachable")

    def _once(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        system = {
            "method": method,
            "app_key": self.app_key,
            "session": self.session,
            "timestamp": top_time(self.now()),
            "format": "json",
            "v": "2.0",
            "sign_method": self.sign_method,
        }
        system["sign"] = top_sign({**system, **params}, self.secret, self.sign_method)
        self.calls += 1
        try:
            r = self.http.post(self.url, params=system, data=params, timeout=30.0)
        except httpx.HTTPError as err:
            raise Retryable(f"{method}: no answer ({type(err).__name__})") from None
        try:
            body = orjson.loads(r.content)
        except orjson.JSONDecodeError:
            kind = r.headers.get("content-type", "?").split(";")[0]
            raise Retryable(f"{method}: HTTP {r.status_code} answered {kind}, not JSON") from None
        if not isinstance(body, dict) or len(body) != 1:
            raise Retryable(f"{method}: the answer is not one TOP envelope")
        if "error_response" in body:
            raise _error(method, body["error_response"])
        key = method.removeprefix("taobao.").replace(".", "_") + "_response"
        inner = body.get(key)
        if not isinstance(inner, dict):
            raise Retryable(f"{method}: the answer has no {key}")
        return inner


def _error(method: str, err: Any) -> ChannelError:
    if not isinstance(err, dict):
        return Retryable(f"{method}: an error_response that is not an object")
    code, sub_code = err.get("code"), str(err.get("sub_code") or "")
    # TOP's code is a number (错误码); anything else (an object, a list: seen fuzzing, issue
    # 19) is no code we act on, and must not fail the lookups below.
    code = code if isinstance(code, int) and not isinstance(code, bool) else str(code)[:40]
    sub_msg = str(err.get("sub_msg") or "")
    text = f"{method}: TOP error {code} {err.get('msg', '')} {sub_code} {sub_msg}".strip()
    out: ChannelError
    if code == 7:
        ban = BAN.search(sub_msg)
        out = Retryable(text, float(ban.group(1)) if ban else None)
    elif code in AUTH_CODES:
        out = AuthRejected(text)
    elif sub_code.startswith("isp.") or code in (10, 11):  # 10/11: service unavailable
        out = Retryable(text)
    else:
        out = Refused(text)
    out.sub_code = sub_code
    return out
