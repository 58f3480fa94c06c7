"""``guanjia sim einvoice``: a Nuonuo-shaped e-invoice provider over HTTP.

``POST /open/v1/services?senid=&nonce=&timestamp=&appkey=`` with headers ``X-Nuonuo-Sign``,
``accessToken``, ``userTax`` and ``method``; the body is the method's JSON. Every answer is
HTTP 200 JSON ``{"code", "describe", "result"}`` — ``E0000`` for success, a business error as
its code (Nuonuo answers so; a client reads ``code``, never the HTTP status). Signature and
business rules: simulators/einvoice/signing.py and service.py.

The control plane, ``/_sim/...`` (JSON in, JSON out):

- ``GET  /_sim/truth``: every invoice by order number, and how many were issued
- ``POST /_sim/faults`` a :class:`~simulators.einvoice.service.Faults` as JSON (fields left
  out keep their value)
- ``POST /_sim/advance`` ``{"seconds": s}``: the provider's clock moves on (72-hour forms)
- ``POST /_sim/buyer`` ``{"billId", "agree": true|false}``: the buyer answers a red form

Served by a threaded stdlib WSGI server, as the marketplace simulator is: no web framework
between the socket and the bytes the signature is checked over.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import fields as dc_fields
from socketserver import ThreadingMixIn
from typing import Annotated, Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
import typer

from simulators.einvoice.service import SUCCESS, Faults, Provider, Refused
from simulators.einvoice.signing import sign_ok

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
MAX_BODY = 1 << 20
#: The gateway refuses a timestamp further than this from its clock (replays).
TIMESTAMP_WINDOW_S = 600


class EInvoiceApp:
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return _send(start_response, 413, {"error": "body too large"})
        raw = environ["wsgi.input"].read(length) if length else b""
        if path == "/open/v1/services":
            if environ.get("REQUEST_METHOD") != "POST":
                return _send(start_response, 405, {"error": "POST"})
            answer, hang = self._service(environ, path, raw)
            if hang:
                # Fault: the work is done, the answer comes too late for the client.
                time.sleep(hang)
            return _send(start_response, 200, answer)
        if path.startswith("/_sim/"):
            try:
                args = orjson.loads(raw) if raw else {}
                result = self._control(path.removeprefix("/_sim/"), args)
            except (ValueError, TypeError, KeyError) as err:
                return _send(start_response, 400, {"error": str(err)})
            if result is None:
                return _send(start_response, 404, {"error": path})
            return _send(start_response, 200, result)
        return _send(start_response, 404, {"error": "not found"})

    def _service(
        self, environ: dict[str, Any], path: str, raw: bytes
    ) -> tuple[dict[str, Any], float]:
        q = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        p = self.provider
        with p.lock:
            secret = p.apps.get(q.get("appkey", ""))
            if secret is None:
                return _error("E1001", "appkey 不存在"), 0.0
            given = environ.get("HTTP_X_NUONUO_SIGN", "")
            if not sign_ok(
                path,
                q.get("appkey", ""),
                q.get("senid", ""),
                q.get("nonce", ""),
                q.get("timestamp", ""),
                raw,
                secret,
                given,
            ):
                return _error("E1002", "签名验证失败"), 0.0
            try:
                ts = int(q.get("timestamp", ""))
            except ValueError:
                return _error("E1003", "timestamp 格式错误"), 0.0
            # Against the wall clock: the client signs with its own; /_sim/advance moves only
            # the provider's business clock (the 72 hours of a red-letter form).
            if abs(ts - time.time()) > TIMESTAMP_WINDOW_S:
                return _error("E1003", "timestamp 与服务器时间相差超过10分钟"), 0.0
            if environ.get("HTTP_ACCESSTOKEN", "") != p.token:
                return _error("E1004", "accessToken 无效或已过期"), 0.0
            try:
                body = orjson.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except ValueError:
                return _error("E4000", "请求体不是 JSON 对象"), 0.0
            try:
                result = p.call(environ.get("HTTP_METHOD", ""), body)
                answer = {"code": SUCCESS, "describe": "调用成功", "result": result}
            except Refused as err:
                answer = _error(err.code, err.describe, err.result)
            hang = 0.0
            if p.faults.hang_next > 0:
                p.faults.hang_next -= 1
                hang = p.faults.hang_s
        return answer, hang

    def _control(self, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
        p = self.provider
        with p.lock:
            if name == "truth":
                return p.truth()
            if name == "advance":
                p.offset += float(args["seconds"])
                return {"now": p.now()}
            if name == "buyer":
                return p.buyer_answers(str(args["billId"]), bool(args.get("agree", True)))
            if name == "faults":
                known = {f.name: f.type for f in dc_fields(Faults)}
                for key, value in args.items():
                    if key not in known:
                        raise KeyError(f"no fault {key!r}")
                    setattr(p.faults, key, float(value) if key == "hang_s" else int(value))
                return {k: getattr(p.faults, k) for k in known}
        return None


def _error(code: str, describe: str, result: Any = None) -> dict[str, Any]:
    return {"code": code, "describe": describe, "result": result}


def _send(start: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    data = orjson.dumps(body)
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
    start(
        f"{status} {reason.get(status, 'Error')}",
        [("Content-Type", "application/json;charset=UTF-8"), ("Content-Length", str(len(data)))],
    )
    return [data]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger("guanjia.sim.einvoice").debug(format, *args)


def serve(app: EInvoiceApp, host: str, port: int) -> WSGIServer:
    """A threaded WSGI server on (host, port); call ``serve_forever`` or ``shutdown``."""
    return make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)


def command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the gateway and control plane.")] = 8766,
    app_key: Annotated[str, typer.Option(help="The app's key.")] = "sim-appkey",
    secret: Annotated[str, typer.Option(help="The app's secret.")] = "sim-secret",
    token: Annotated[
        str, typer.Option(help="The access token the seller's app holds.")
    ] = "sim-token",
) -> None:
    """Run a Nuonuo-shaped e-invoice provider (POST /open/v1/services) with /_sim control."""
    logging.basicConfig(level=logging.INFO)
    server = serve(EInvoiceApp(Provider({app_key: secret}, token)), host, port)
    typer.echo(f"einvoice: http://{host}:{server.server_port}/open/v1/services (appkey {app_key})")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
