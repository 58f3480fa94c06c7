"""The TOP gateway: ``POST /router/rest`` as Taobao Open Platform answers it.

Shape (open.taobao.com "API调用方法详解", and the API pages of each method):
- system parameters (``method``, ``app_key``, ``session``, ``timestamp``, ``format``, ``v``,
  ``sign_method``, ``sign``) in the query string, the API's own in a UTF-8 form body; all of
  them are signed together;
- always HTTP 200 with one top-level key: ``<method without "taobao.", dots as
  underscores>_response`` (other prefixes stay: ``cainiao_waybill_ii_get_response``), or
  ``error_response`` with ``code``, ``msg``, ``sub_code``, ``sub_msg``;
- lists wrapped in an object named by the plural: ``"trades": {"trade": [...]}``; an empty
  list is left out altogether, as TOP leaves it out.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from simulators.marketplace import double11, stock
from simulators.marketplace.clock import fmt, parse_text, parse_timestamp
from simulators.marketplace.market import DEFAULT_TYPES, NON_DEFAULT_TYPES, Market, Shop
from simulators.marketplace.signing import sign_ok

SKEW = 600.0  # "淘宝API服务端允许客户端请求最大时间误差为10分钟"
MAX_SPAN = 86_400  # increment.get: "修改时间跨度不能大于一天"
HTML_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>Tengine</center></body></html>"
)

TIMEOUT_PAGE = (
    b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway"
    b" Time-out</h1></center><hr><center>Tengine</center></body></html>"
)
#: Courier codes logistics.offline.send accepts (a few of TOP's logistics company codes).
COMPANY_CODES = frozenset({"SF", "ZTO", "YTO", "STO", "YUNDA", "EMS", "HTKY", "JD", "DBKD"})

Params = dict[str, str]
Reply = tuple[int, str, Any]  # status, content type, JSON-able body or raw bytes


class TopError(Exception):
    def __init__(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(msg)
        self.body = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


def response_key(method: str) -> str:
    name = method.removeprefix("taobao.")
    return name.replace(".", "_") + "_response"


def invalid(name: str, why: str) -> TopError:
    return TopError(41, "Invalid Arguments", f"isv.invalid-parameter:{name}", why)


def handle(market: Market, query: Params, form: Params) -> Reply:
    """One gateway call. The caller holds ``market.lock``."""
    market.calls += 1
    market.now += market.call_cost
    if market.rng.random() < market.faults.html:
        return 502, "text/html; charset=utf-8", HTML_PAGE
    params = {**query, **form}
    try:
        method, shop = _admit(market, params)
        body = METHODS[method](market, shop, params)
    except (TopError, stock.StockError) as err:
        own = err.body if isinstance(err, TopError) else TopError(*err.args4).body
        body_err = {**own, "request_id": uuid.UUID(int=market.calls).hex[:13]}
        return 200, "application/json;charset=UTF-8", {"error_response": body_err}
    if (
        method == "taobao.logistics.offline.send"
        and market.rng.random() < market.faults.ship_timeout
    ) or (
        method.startswith("cainiao.waybill.")
        and market.rng.random() < market.faults.waybill_timeout
    ):
        # The shipment is stored; the answer is lost at the front (the caller cannot know).
        return 504, "text/html; charset=utf-8", TIMEOUT_PAGE
    if method in stock.WRITES and market.rng.random() < market.stock.faults.push_timeout:
        return 504, "text/html; charset=utf-8", TIMEOUT_PAGE  # applied; the answer is lost
    return 200, "application/json;charset=UTF-8", {response_key(method): body}


def _admit(market: Market, params: Params) -> tuple[str, Shop]:
    method = params.get("method", "")
    if not method:
        raise TopError(21, "Missing Method")
    if method not in METHODS:
        raise TopError(22, "Invalid Method", "isv.method-not-exist", f"no method {method}")
    app_key = params.get("app_key", "")
    secret = market.secret_of(app_key)
    if secret is None:
        raise TopError(29, "Invalid App Key")
    stamp = parse_timestamp(params.get("timestamp", ""))
    if stamp is None or abs(stamp - market.now) > SKEW:
        raise TopError(31, "Invalid Timestamp", "", "timestamp is more than 10 minutes off")
    if not params.get("sign") or not sign_ok(params, secret):
        raise TopError(25, "Invalid Signature")
    if params.get("format", "xml") != "json" or params.get("v") != "2.0":
        raise invalid("format", "the simulator answers format=json, v=2.0 only")
    shop = market.shops.get(params.get("session", ""))
    if shop is None or shop.app_key != app_key or shop.refused(market.now) == "revoked":
        raise TopError(27, "Invalid session", "invalid-sessionkey", "session key is invalid")
    if (
        market.faults.session_expiry  # the random stream is only drawn from while it is on
        and shop.expires_at is None
        and market.rng.random() < market.faults.session_expiry
    ):
        shop.expires_at = market.now
    if shop.refused(market.now) == "expired":
        # An expired authorisation is the same code 27 (TOP's platform error table: 27
        # "Invalid session", the session key expired or is not valid); the wording is ours.
        raise TopError(27, "Invalid session", "invalid-sessionkey", "session key has expired")
    ban = max(
        market.ban_until.get(app_key, 0.0), market.now + double11.quota_check(market, app_key)
    )
    if ban > market.now or market.rng.random() < market.faults.rate_limit:
        if ban <= market.now:
            ban = market.now + market.rng.randint(1, 5)
            market.ban_until[app_key] = ban
        silent = market.rng.random() < market.faults.rate_limit_silent
        wait = "" if silent else f"This ban will last for {int(ban - market.now) + 1} more seconds"
        raise TopError(7, "App Call Limited", "accesscontrol.limited-by-app-access-count", wait)
    if market.rng.random() < market.faults.isp_error:
        sub = market.rng.choice(["isp.remote-service-error", "isp.top-remote-connection-timeout"])
        raise TopError(15, "Remote service error", sub, "please retry")
    return method, shop


def _int(params: Params, name: str, default: int, lo: int, hi: int) -> int:
    text = params.get(name, "")
    if text == "":
        return default
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise invalid(name, f"{name} must be a whole number from {lo} to {hi}")
    return int(text)


def _types(params: Params) -> set[str]:
    given = params.get("type", "")
    if not given:
        return set(DEFAULT_TYPES)
    return {t.strip() for t in given.split(",") if t.strip()}


def _wanted(fields: str) -> set[str]:
    return {f.strip() for f in fields.split(",") if f.strip()}


def _project(trade: dict[str, Any], fields: str) -> dict[str, Any]:
    wanted = _wanted(fields)
    if not wanted:
        raise invalid("fields", "fields is required")
    return {k: v for k, v in trade.items() if k in wanted}


def _page(
    rows: list[tuple[int, int, dict[str, Any]]], params: Params, fields: str, lie: int = 0
) -> dict[str, Any]:
    """``rows``: (the time ordered by, tid, trade), as double11.window gives them."""
    page_no = _int(params, "page_no", 1, 1, 1_000_000)
    page_size = _int(params, "page_size", 40, 1, 100)
    rows.sort(reverse=True)  # newest first, then the larger tid (tids are unique: no ties)
    chunk = rows[(page_no - 1) * page_size : page_no * page_size]
    out: dict[str, Any] = {}
    if params.get("use_has_next") == "true":
        # TOP: with use_has_next the total is not counted (and not returned).
        out["has_next"] = page_no * page_size < len(rows)
    else:
        out["total_results"] = max(0, len(rows) - lie)
    if chunk:
        wanted = _wanted(fields)
        if not wanted:
            raise invalid("fields", "fields is required")
        out["trades"] = {
            "trade": [{k: v for k, v in t.items() if k in wanted} for _, _, t in chunk]
        }
    return out


def increment_get(market: Market, shop: Shop, params: Params) -> dict[str, Any]:
    """taobao.trades.sold.increment.get: by ``modified``, newest first, span ≤ one day."""
    start = parse_text(params.get("start_modified", ""))
    end = parse_text(params.get("end_modified", ""))
    if start is None or end is None:
        raise invalid("start_modified", "start_modified and end_modified are required")
    if end < start or end - start > MAX_SPAN:
        raise invalid("end_modified", "the span must be between 0 seconds and one day")
    types = _types(params)
    status = params.get("status", "")

    def window() -> list[tuple[int, int, dict[str, Any]]]:
        return [
            row
            for row in double11.window(market, shop.seller_nick, start, end)
            if row[1] not in market.hidden
            and row[2]["type"] in types
            and (not status or row[2]["status"] == status)
        ]

    rows = window()
    if rows and market.rng.random() < market.faults.change_between_pages:
        # A buyer changes one of the window's trades between two page fetches: it leaves
        # the window (its new ``modified`` is now) and the pages after it shift.
        victim = market.rng.choice(rows)[2]
        if victim["status"] in ("WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS"):
            market.change(victim["tid"], "modify", seller_memo=f"changed at {fmt(market.now)}")
            rows = window()
    lie = 0
    if market.faults.lying_total:
        # Drawn only under the fault, so the other faults' schedules stay as they were.
        key = (shop.seller_nick, start, end)
        if key not in market.lies:
            hit = market.rng.random() < market.faults.lying_total
            market.lies[key] = market.rng.randint(1, 150) if hit else 0
        lie = market.lies[key]
    return _page(rows, params, params.get("fields", ""), lie)


def sold_get(market: Market, shop: Shop, params: Params) -> dict[str, Any]:
    """taobao.trades.sold.get: by ``created``, newest first."""
    start = parse_text(params["start_created"]) if params.get("start_created") else 0
    end = parse_text(params["end_created"]) if params.get("end_created") else 1 << 40
    if start is None or end is None:
        raise invalid("start_created", "start_created/end_created: yyyy-MM-dd HH:mm:ss")
    types, status = _types(params), params.get("status", "")
    rows = [
        row
        for row in double11.window(market, shop.seller_nick, start, end, created=True)
        if row[2]["type"] in types and (not status or row[2]["status"] == status)
    ]
    return _page(rows, params, params.get("fields", ""))


def fullinfo_get(market: Market, shop: Shop, params: Params) -> dict[str, Any]:
    """taobao.trade.fullinfo.get: one trade with its lines, read from the trade store."""
    tid = params.get("tid", "")
    trade = market.read_trade(int(tid)) if tid.isdigit() else None
    if trade is None or trade["seller_nick"] != shop.seller_nick:
        raise TopError(15, "Remote service error", "isv.trade-not-exist", f"no trade {tid}")
    return {"trade": _project(trade, params.get("fields", ""))}


def _own_trade(market: Market, shop: Shop, tid: str) -> int:
    versions = market.trades.get(int(tid)) if tid.isdigit() else None
    if not versions or versions[0].trade["seller_nick"] != shop.seller_nick:
        raise TopError(
            15, "Remote service error", "isv.logistics-offline-service-error:B01", "订单不存在"
        )
    return int(tid)


def offline_send(market: Market, shop: Shop, params: Params) -> dict[str, Any]:
    """taobao.logistics.offline.send (自己联系物流): ``tid``, ``out_sid``, ``company_code``.

    A trade not waiting to be shipped is refused with code 15 and
    ``isv.logistics-offline-service-error:B04`` (what TOP answers for a trade shipped or closed
    already, whatever the parcel number)."""
    tid, out_sid = params.get("tid", ""), params.get("out_sid", "").strip()
    company = params.get("company_code", "").strip()
    if not out_sid:
        raise invalid("out_sid", "out_sid is required")
    if company not in COMPANY_CODES:
        raise invalid("company_code", f"unknown logistics company code {company!r}")
    key = _own_trade(market, shop, tid)
    sub_tids = _sub_tids(market, key, params)
    market.ship_calls[key] = market.ship_calls.get(key, 0) + 1
    if not market.ship(key, out_sid, company, sub_tids):
        raise TopError(
            15,
            "Remote service error",
            "isv.logistics-offline-service-error:B04",
            "订单状态不对该物流订单已经发货或者已关闭，不能重复发货",
        )
    return {"shipping": {"is_success": True}}


def _sub_tids(market: Market, tid: int, params: Params) -> list[int] | None:
    """``is_split=1`` with ``sub_tid`` (the sub-orders' ``oid``s, comma-separated): the
    parcel carries only those (拆单发货). Without ``is_split`` the trade ships whole, as
    before; a ``sub_tid`` without it, or an oid not of the trade, is a bad parameter."""
    split, raw = params.get("is_split", "0").strip(), params.get("sub_tid", "").strip()
    if split not in ("0", "1"):
        raise invalid("is_split", "is_split must be 0 or 1")
    if split == "0":
        if raw:
            raise invalid("sub_tid", "sub_tid needs is_split=1")
        return None
    parts = [p.strip() for p in raw.split(",")]
    if not raw or not all(p.isdigit() for p in parts):
        raise invalid("sub_tid", "sub_tid must be the sub-orders' oids, comma-separated")
    oids = {ln["oid"] for ln in market.trades[tid][-1].trade["orders"]["order"]}
    wanted = [int(p) for p in parts]
    if not set(wanted) <= oids or len(set(wanted)) != len(wanted):
        raise invalid("sub_tid", "a sub_tid is not a sub-order of the trade, or is repeated")
    return wanted


def logistics_orders_get(market: Market, shop: Shop, params: Params) -> dict[str, Any]:
    """taobao.logistics.orders.get: the shop's shipping records (here by ``tid``)."""
    tid = params.get("tid", "")
    whole = [(t, s) for t, s in sorted(market.shipments.items())]
    parts = [(t, s) for t, ps in sorted(market.part_shipments.items()) for s in ps]
    rows = [
        {
            "tid": t,
            "out_sid": s["out_sid"],
            "company_name": s["company_code"],
            "status": "CREATED",
            # A parcel of a trade shipped in parts: TOP's shipping record names it split and
            # lists its sub-orders.
            **(
                {"is_spilt": 1, "sub_tids": ",".join(str(o) for o in s["sub_tids"])}
                if "sub_tids" in s
                else {}
            ),
        }
        for t, s in [*whole, *parts]
        if market.trades[t][0].trade["seller_nick"] == shop.seller_nick
        and (not tid or str(t) == tid)
    ]
    out: dict[str, Any] = {"total_results": len(rows)}
    if rows:
        out["shippings"] = {"shipping": rows}
    return out


METHODS: dict[str, Callable[[Market, Shop, Params], dict[str, Any]]] = {
    "taobao.trades.sold.increment.get": increment_get,
    "taobao.trades.sold.get": sold_get,
    "taobao.trade.fullinfo.get": fullinfo_get,
    "taobao.logistics.offline.send": offline_send,
    "taobao.logistics.orders.get": logistics_orders_get,
    **stock.METHODS,
}
ALL_TYPES = DEFAULT_TYPES + NON_DEFAULT_TYPES
