"""The simulator as a WSGI application: the TOP gateway and the control plane.

``POST /router/rest`` is the gateway (simulators/marketplace/top.py). The control plane,
``/_sim/...``, is the simulator's own (JSON in, JSON out):

- ``GET  /_sim/clock`` -> ``{"now": epoch seconds, "text": GMT+8}``
- ``GET  /_sim/alipay-bill?session=…&date=…``: a shop's Alipay bill of the day so far (bill.py)
- ``GET  /_sim/alipay-public-key``: the public key that verifies the gateway's answers (bill.py)
- ``POST /pay/downloadbill``: a shop's WeChat Pay trade bill of a day (wechat_bill.py)
- ``GET /v3/bill/tradebill``, ``/v3/bill/fundflowbill``, ``/v3/billdownload/file``: WeChat
  Pay API v3 bills, signed both ways (wechat_v3.py); ``POST /_sim/wechat-merchants``
  ``{"mchid", "serial_no", "public_key"}`` registers a merchant's key, ``GET
  /_sim/wechatpay-public-key`` answers the simulated WeChat Pay's public key and its id;
  ``GET /v3/certificates`` its platform certificates, encrypted with a merchant's APIv3 key
  (registered with ``"api_v3_key"``), ``POST /_sim/wechat-rotate`` adds one that signs;
  ``GET /_sim/wechatpay-ca`` the CA (PEM) that issues them
- ``POST /_sim/advance`` ``{"seconds": s, "rate": buyer actions per second}``
- ``POST /_sim/place`` ``{"count": n}``: n new trades now
- ``POST /_sim/faults`` a :class:`Faults` as JSON (fields left out keep their value), or
  ``{"seed": n}`` for the schedule drawn from n
- ``POST /_sim/shops`` ``{"app_key", "secret", "session", "seller_nick"}``
- ``POST /_sim/revoke`` ``{"session": key}``: that seller withdrew the app's authorisation
- ``POST /_sim/expire`` ``{"session": key, "after": seconds}``: the key (a TOP session key or
  a Shopify access token) expires that much virtual time from now (0: at once)
- ``POST /_sim/reauthorise`` ``{"session", "new_session", "expires_in"?}``: the seller
  authorised the app again; the old key is refused from now on
- ``GET|POST /_sim/refunds`` ``{"rate": 0…1}``: the share of buyer actions that are refunds
  (refunds.py); ``GET|POST /_sim/tmc`` ``{"duplicate", "reorder", "drop": 0…1,
  "redeliver_s"}``: the TMC's faults (tmc.py); each answers its settings and counts
- ``GET  /_sim/truth``: every change ever made and each trade's final state
- ``/_sim/double11/start|status|paid``: the Double-11 hour of ``guanjia bench channels``
- ``POST /gateway.do`` ``alipay.data.dataservice.bill.downloadurl.query`` and ``GET
  /downloadBillFile.resource``: the shops' Alipay account-flow bills (bill.py)
- ``GET  /_sim/waybills``: every e-waybill number issued or cancelled (simulators/marketplace/cainiao.py)
- ``GET  /_sim/stock``: stock on sale per SKU and every change of it; ``POST /_sim/stock``
  ``{"seed"}`` or ``{"buy_during_push", "push_timeout"}`` and/or ``{"seller_nick", "levels":
  {sku: quantity}, "location_id"?}`` (a Shopify shop with several locations: set at that one,
  which it needs; simulators/marketplace/stock.py)

It is served by a threaded stdlib WSGI server answering HTTP/1.1 with persistent
connections (``guanjia sim marketplace``, keepalive.py); tests may also
mount it in-process with ``httpx.WSGITransport``, which exercises the same HTTP handling.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import fields as dc_fields
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Annotated, Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIServer, make_server

import orjson
import typer

from simulators.marketplace import (
    bill,
    cainiao,
    double11,
    refunds,
    tmc,
    top,
    wechat_bill,
    wechat_v3,
)
from simulators.marketplace.clock import fmt
from simulators.marketplace.keepalive import KeepAliveHandler
from simulators.marketplace.market import Faults, Market
from simulators.marketplace.shopify import control as shopify_control
from simulators.marketplace.shopify.admin import ShopifyStore
from simulators.marketplace.stock import stock_control

top.METHODS.update(cainiao.METHODS)  # cainiao.waybill.ii.get/cancel, same gateway
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
MAX_BODY = 1 << 20
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
REASONS[413] = "Payload Too Large"
REASONS[502] = "Bad Gateway"
REASONS.update({201: "Created", 401: "Unauthorized", 422: "Unprocessable Entity"})
REASONS.update({429: "Too Many Requests", 503: "Service Unavailable", 504: "Gateway Timeout"})
# The methods kept in their own modules (later changes, issue 16) join the gateway's table.
top.METHODS.update(refunds.METHODS | tmc.METHODS)


class MarketplaceApp:
    def __init__(self, market: Market) -> None:
        self.market = market
        #: The Shopify-shaped store over the same world (simulators/marketplace/shopify/).
        self.shopify = ShopifyStore(market)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        verb = environ.get("REQUEST_METHOD", "GET")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return self._send(start_response, 413, "text/plain", b"body too large")
        raw = environ["wsgi.input"].read(length) if length else b""
        with self.market.lock:
            if path == "/router/rest":
                if verb not in ("POST", "GET"):
                    return self._send(start_response, 405, "text/plain", b"POST")
                query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    return self._send(start_response, 400, "text/plain", b"body is not UTF-8")
                form = dict(parse_qsl(text, keep_blank_values=True))
                status, ctype, body = top.handle(self.market, query, form)
                return self._send(start_response, status, ctype, body)
            if path.startswith("/admin/api/"):
                base = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
                token = environ.get("HTTP_X_SHOPIFY_ACCESS_TOKEN", "")
                query = environ.get("QUERY_STRING", "")
                status, headers, data = self.shopify.handle(verb, path, query, token, raw, base)
                start_response(f"{status} {REASONS.get(status, 'Error')}", headers)
                return [data]
            if path.startswith("/v3/"):  # WeChat Pay API v3 bills (wechat_v3.py)
                base = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
                v3 = wechat_v3.handle(
                    self.market,
                    verb,
                    path,
                    environ.get("QUERY_STRING", ""),
                    environ.get("HTTP_AUTHORIZATION", ""),
                    base,
                )
                if v3 is not None:
                    status, headers, data = v3
                    headers = [*headers, ("Content-Length", str(len(data)))]
                    start_response(f"{status} {REASONS.get(status, 'Error')}", headers)
                    return [data]
            if path == "/_sim/wechatpay-public-key":
                pem = wechat_v3.public_pem(self.market)
                serial = wechat_v3.platform_serial(self.market)
                return self._send(
                    start_response,
                    200,
                    "application/json",
                    {"public_key": pem.decode(), "serial": serial},
                )
            if path == "/_sim/wechatpay-ca":  # the CA a hub is pointed at (wechat_v3.ca)
                pem = wechat_v3.ca(self.market)[1]
                start_response("200 OK", [("Content-Type", "application/x-pem-file")])
                return [pem]
            if path == "/pay/downloadbill":
                answer = wechat_bill.handle(self.market, verb, path, raw)
                if answer is not None:
                    return self._send(start_response, *answer)
            if path in (
                "/gateway.do",
                "/downloadBillFile.resource",
                "/_sim/alipay-bill",
                "/_sim/alipay-public-key",
            ):
                # Alipay (bill.py), and the day so far from the control plane
                base = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
                query = environ.get("QUERY_STRING", "")
                answer = bill.handle(self.market, verb, path, query, raw, base)
                if answer is not None:
                    return self._send(start_response, *answer)
            if path.startswith("/_sim/"):
                try:
                    args = orjson.loads(raw) if raw else {}
                    name = path.removeprefix("/_sim/")
                    if name.startswith("shopify/"):
                        result = shopify_control.control(
                            self.shopify, verb, name.removeprefix("shopify/"), args
                        )
                    else:
                        result = self._control(verb, name, args)
                except (ValueError, TypeError, KeyError) as err:
                    return self._send(start_response, 400, "application/json", {"error": str(err)})
                if result is None:
                    return self._send(start_response, 404, "application/json", {"error": path})
                return self._send(start_response, 200, "application/json", result)
        return self._send(start_response, 404, "text/plain", b"not found")

    def _control(self, verb: str, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
        m = self.market
        if name == "clock":
            return {"now": m.now, "text": fmt(m.now)}
        if name == "truth":
            return m.truth_state()
        if name.startswith("double11/"):  # guanjia bench channels (double11.py)
            return double11.control(m, name.removeprefix("double11/"), args)
        if name == "waybills":
            return cainiao.book(m).truth()
        if name == "stock":
            return stock_control(m, verb, args)
        if name in ("refunds", "tmc"):
            return _parts_control(m, verb, name, args)
        if verb != "POST":
            return None
        if name == "advance":
            acted = m.advance(float(args["seconds"]), float(args.get("rate", 0.0)))
            return {"now": m.now, "acted": acted}
        if name == "place":
            return {"tids": [m.place() for _ in range(int(args.get("count", 1)))]}
        if name == "faults":
            if "seed" in args:
                m.faults = Faults.seeded(int(args["seed"]))
            else:
                known = {f.name for f in dc_fields(Faults)}
                for key, value in args.items():
                    if key not in known:
                        raise KeyError(f"no fault {key!r}")
                    setattr(m.faults, key, float(value))
            return {"faults": m.truth_state()["faults"]}
        if name == "shops":
            shop = m.add_shop(
                str(args["app_key"]),
                str(args["secret"]),
                str(args["session"]),
                str(args["seller_nick"]),
            )
            return {"seller_nick": shop.seller_nick}
        if name == "wechat-merchants":  # a merchant's API key (wechat_v3.py)
            return wechat_v3.register(m, args)
        if name == "wechat-rotate":  # a new platform certificate signs (wechat_v3.py)
            return {"serial_no": wechat_v3.rotate(m)}
        if name == "revoke":
            m.shops[str(args["session"])].revoked = True
            return {"revoked": True}
        if name == "expire":
            m.expire(str(args["session"]), float(args.get("after", 0.0)))
            return {"expires_at": m.shops[str(args["session"])].expires_at}
        if name == "reauthorise":
            expires = args.get("expires_in")
            shop = m.reauthorise(
                str(args["session"]),
                str(args["new_session"]),
                None if expires is None else float(expires),
            )
            return {"seller_nick": shop.seller_nick}
        return None

    @staticmethod
    def _send(start: StartResponse, status: int, ctype: str, body: Any) -> list[bytes]:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        start(
            f"{status} {REASONS.get(status, 'Error')}",
            [("Content-Type", ctype), ("Content-Length", str(len(data)))],
        )
        return [data]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(KeepAliveHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logging.getLogger("guanjia.sim.marketplace").debug(format, *args)


def serve(app: MarketplaceApp, host: str, port: int) -> WSGIServer:
    """A threaded WSGI server on (host, port); call ``serve_forever`` or ``shutdown``."""
    return make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)


def command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the gateway and control plane.")] = 8765,
    seed: Annotated[int, typer.Option(help="Seed of the buyers and the fault schedule.")] = 0,
    faults: Annotated[
        bool, typer.Option("--faults/--no-faults", help="Draw a fault schedule from the seed.")
    ] = False,
    app_key: Annotated[str, typer.Option(help="The app's key.")] = "12345678",
    secret: Annotated[str, typer.Option(help="The app's secret.")] = "sim-secret",
    session: Annotated[str, typer.Option(help="A seller's session key.")] = "sim-session",
    seller_nick: Annotated[str, typer.Option(help="That seller's nick.")] = "guanjia-demo-shop",
    wall_clock: Annotated[
        bool,
        typer.Option(
            "--wall-clock/--virtual-clock",
            help="Follow the wall clock, buyers acting at --rate (an hour of them already "
            "past), so a hub signing with its own clock is answered (the demo).",
        ),
    ] = False,
    rate: Annotated[
        float, typer.Option(min=0.0, max=100.0, help="Buyer actions a second (--wall-clock).")
    ] = 0.02,
    sku: Annotated[
        list[str] | None,
        typer.Option(help="The seller's SKU codes the buyers order (repeatable)."),
    ] = None,
    shopify: Annotated[
        bool,
        typer.Option(
            "--shopify/--no-shopify",
            help="Open a Shopify shop in the world too (buyers then order from it as well).",
        ),
    ] = True,
    wechatpay_ca_file: Annotated[
        Path | None,
        typer.Option(
            help="Write the simulated WeChat Pay's CA certificate (PEM) here at start: point "
            "the hub's GUANJIA_WECHATPAY_CA_BUNDLE at it."
        ),
    ] = None,
) -> None:
    """Run a Taobao-TOP-shaped marketplace (POST /router/rest) and a Shopify-shaped store
    (/admin/api/<version>/…) over one world, with its /_sim control plane."""
    logging.basicConfig(level=logging.INFO)
    market = Market(seed=seed, faults=Faults.seeded(seed) if faults else Faults())
    if sku:
        market.skus = tuple(sku)
    market.add_shop(app_key, secret, session, seller_nick)
    # The simulated WeChat Pay's CA, made at start: it issues every platform certificate.
    ca_pem = wechat_v3.ca(market)[1]
    if wechatpay_ca_file is not None:
        wechatpay_ca_file.write_bytes(ca_pem)
    app = MarketplaceApp(market)
    # A Shopify shop in the same world: token "shpat-sim", the app's secret signs webhooks.
    if shopify:
        app.shopify.add_shop(f"{seller_nick}.myshopify.com", "shpat-sim", secret)
    if wall_clock:
        follow_wall_clock(market, rate, threading.Event())
    server = serve(app, host, port)
    typer.echo(
        f"marketplace: http://{host}:{server.server_port}/router/rest (now {fmt(market.now)})"
    )
    if shopify:
        typer.echo(f"shopify: http://{host}:{server.server_port}/admin/api/2024-10 (shpat-sim)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def follow_wall_clock(
    market: Market, rate: float, stop: threading.Event, history_s: float = 3600.0
) -> threading.Thread:
    """Buyers act through the last ``history_s`` seconds at once, then the virtual clock
    follows the wall clock each second. The gateway refuses timestamps more than 10 minutes
    off its clock (top.py, code 31), and a hub signs with its own: so the two must agree."""
    with market.lock:
        market.now = time.time() - history_s
        market.advance(history_s, rate)

    def loop() -> None:
        while not stop.wait(1.0):
            with market.lock:
                # API calls move the virtual clock on too (0.2 s each): never move it back.
                market.advance(max(0.0, time.time() - market.now), rate)

    thread = threading.Thread(target=loop, name="marketplace-clock", daemon=True)
    thread.start()
    return thread


#: What ``/_sim/refunds`` and ``/_sim/tmc`` set: shares of 0 to 1, and the TMC's redelivery.
_PART_FIELDS: dict[str, dict[str, tuple[float, float]]] = {
    "refunds": {"rate": (0.0, 1.0)},
    "tmc": {
        "duplicate": (0.0, 1.0),
        "reorder": (0.0, 1.0),
        "drop": (0.0, 1.0),
        "redeliver_s": (0.0, 86_400.0),
    },
}


def _parts_control(m: Market, verb: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """``GET`` a part's settings and counts; ``POST`` sets some of them (the rest kept): the
    share of buyer actions that are refunds (refunds.py), the TMC's faults (tmc.py). A field
    it does not have, or a figure out of range, is a 400 and nothing changes."""
    part: refunds.Refunds | tmc.Tmc = refunds.Refunds.of(m) if name == "refunds" else tmc.Tmc.of(m)
    limits = _PART_FIELDS[name]
    if verb == "POST":
        new: dict[str, float] = {}
        for key, value in args.items():
            if key not in limits:
                raise KeyError(f"{name} has no setting {key!r}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{key} must be a number")
            lo, hi = limits[key]
            if not lo <= float(value) <= hi:
                raise ValueError(f"{key} must be from {lo:g} to {hi:g}")
            new[key] = float(value)
        for key, value in new.items():
            setattr(part, key, value)
    out: dict[str, Any] = {key: getattr(part, key) for key in limits}
    if isinstance(part, tmc.Tmc):
        out |= {"published": part.published, "dropped": part.dropped, "queued": len(part.queue)}
    else:
        out["refunds"] = len(part.truth)
    return out
