"""Cainiao e-waybills (电子面单) through the TOP gateway: ``cainiao.waybill.ii.get``,
``cainiao.waybill.ii.cancel`` and ``cainiao.waybill.ii.update``.

Shape (the TOP API pages of both methods, as the public SDKs model them; research notes
shared/research/channels.md):

- ``cainiao.waybill.ii.get`` takes one parameter, ``param_waybill_cloud_print_apply_new_request``,
  a JSON object: ``cp_code`` (the courier), ``sender`` (``name``, ``mobile``/``phone``,
  ``address`` {``province``, ``city``, ``district``, ``town``, ``detail``}),
  ``trade_order_info_dtos`` (at most 10), each with ``object_id`` (the caller's request id,
  echoed), ``order_info`` {``order_channels_type``, ``trade_order_list``}, ``package_info``
  {``id``, ``items`` [{``name``, ``count``}], ``weight`` g, ``volume`` ml}, ``recipient``
  (as the sender), ``template_url``. The answer's key keeps its prefix:
  ``cainiao_waybill_ii_get_response`` with ``modules`` {``waybill_cloud_print_response`` [
  {``object_id``, ``waybill_code``, ``print_data``}]} (TOP's JSON wraps a list in an object
  named by its element type, as ``trades.trade``).
- Drawing again for the same courier, trade orders and package ``id`` returns the number
  already drawn (the ``package_info.id`` note: it tells the parcels of one order apart), so a
  caller that lost an answer asks again and gets the same number. A cancelled number is freed:
  the same request then draws a new one.
- ``cainiao.waybill.ii.cancel`` (``cp_code``, ``waybill_code``) → ``cancel_result``.
- ``cainiao.waybill.ii.update`` (电子面单云打印更新接口; the TOP API page as the public SDKs
  model it, e.g. bububa/opentaobao model/waybill/WaybillCloudPrintUpdateRequest.go and
  CainiaoWaybillIiUpdateAPIResponse.go) takes one JSON parameter,
  ``param_waybill_cloud_print_update_request``: ``cp_code``, ``waybill_code``, ``object_id``,
  ``recipient``, ``sender``, ``package_info`` {``items``, ``volume``, ``weight``},
  ``template_url``, ``logistics_services``; it answers ``cainiao_waybill_ii_update_response``
  with ``waybill_code`` and ``print_data`` (the document with the new details). Here the
  recipient and items replace the number's; a cancelled number or another seller's is refused
  (``isv.waybill-not-exist``), as is a recipient without a province, detail, phone or name.
- ``print_data`` is the cloud-print document, a JSON text: ``data`` (``waybillCode``,
  ``cpCode``, ``recipient``, ``sender``, ``routingInfo`` with the sorting centre and the route
  code a courier prints big on the label), ``signature``, ``templateURL``.

Approximations: the real service keys idempotency on more than these fields and its route
codes come from the courier's network (here they are drawn from the province); a second cancel
of a cancelled number answers ``cancel_result: true`` (the real code for it is not known to
us); a recipient without a province, detail or phone is refused as code 41.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from simulators.marketplace.market import Market, Shop
from simulators.marketplace.top import COMPANY_CODES, Params, TopError, invalid

#: Number shapes per courier: prefix and digits (what their waybill numbers look like).
SHAPES = {
    "SF": ("SF", 13),
    "ZTO": ("75", 12),
    "YTO": ("YT", 13),
    "STO": ("77", 12),
    "YUNDA": ("43", 13),
    "EMS": ("E", 12),
    "HTKY": ("HT", 13),
    "JD": ("JDV", 12),
    "DBKD": ("DPK", 12),
}
PACKAGE_ID = re.compile(r"[A-Za-z0-9_]{1,64}")
MAX_DTOS = 10


@dataclass
class WaybillBook:
    """Every number the couriers gave out, and the truth log of draws and cancels."""

    #: (cp_code, trade orders, package id) → the live number drawn for it.
    live: dict[tuple[str, tuple[str, ...], str], str] = field(default_factory=dict)
    #: number → {"cp_code", "key", "state": "issued" | "cancelled", "seller_nick",
    #: "recipient", "sender", "items"} (the record as last drawn or updated).
    numbers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Truth: every number issued and every cancel, in order.
    log: list[dict[str, Any]] = field(default_factory=list)
    #: ``cainiao.waybill.ii.get`` calls that reached the method.
    get_calls: int = 0
    _serial: dict[str, int] = field(default_factory=dict)

    def truth(self) -> dict[str, Any]:
        return {
            "log": list(self.log),
            "numbers": {n: {**v, "key": list(v["key"])} for n, v in self.numbers.items()},
        }


def book(market: Market) -> WaybillBook:
    """The market's waybill book (made on first use: the market knows nothing of waybills)."""
    found = market.__dict__.get("_waybills")
    if found is None:
        found = market.__dict__["_waybills"] = WaybillBook()
    assert isinstance(found, WaybillBook)
    return found


def _text(obj: Any, name: str) -> str:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value.strip() if isinstance(value, str) else ""


def _person(obj: Any, who: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise invalid(who, f"{who} is required")
    addr = obj.get("address")
    if not _text(addr, "province") or not _text(addr, "detail"):
        raise invalid(f"{who}.address", f"{who}.address needs a province and a detail")
    if not (_text(obj, "mobile") or _text(obj, "phone")):
        raise invalid(f"{who}.mobile", f"{who} needs a mobile or a phone")
    if not _text(obj, "name"):
        raise invalid(f"{who}.name", f"{who}.name is required")
    return obj


def _route(cp_code: str, province: str, city: str) -> dict[str, Any]:
    """A sorting centre and a three-part route code (三段码), stable per destination."""
    digest = hashlib.sha256(f"{cp_code}|{province}|{city}".encode()).digest()
    code = f"{digest[0] % 900 + 100} {chr(65 + digest[1] % 26)}{digest[2] % 90 + 10:02d} {digest[3] % 90 + 10:02d}"
    return {"sortation": {"name": f"{(city or province)[:8]}转运中心"}, "routeCode": code}


def _number(b: WaybillBook, market: Market, cp_code: str) -> str:
    prefix, digits = SHAPES.get(cp_code, ("CN", 12))
    serial = b._serial.get(cp_code, 0) + 1
    b._serial[cp_code] = serial
    # Seeded, so two markets of one seed give out the same numbers.
    body = str(market.seed * 1_000_003 + serial * 7919).rjust(digits, "0")[-digits:]
    return prefix + body


def waybill_get(market: Market, shop: Shop, params: Params) -> dict[str, Any]:
    """cainiao.waybill.ii.get: numbers and print data for up to 10 parcels."""
    b = book(market)
    b.get_calls += 1
    raw = params.get("param_waybill_cloud_print_apply_new_request", "")
    try:
        req = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid(
            "param_waybill_cloud_print_apply_new_request", "the request is not JSON"
        ) from None
    if not isinstance(req, dict):
        raise invalid("param_waybill_cloud_print_apply_new_request", "the request is an object")
    cp_code = _text(req, "cp_code")
    if cp_code not in COMPANY_CODES:
        raise invalid("cp_code", f"unknown cp_code {cp_code!r}")
    sender = _person(req.get("sender"), "sender")
    dtos = req.get("trade_order_info_dtos")
    if not isinstance(dtos, list) or not 1 <= len(dtos) <= MAX_DTOS:
        raise invalid("trade_order_info_dtos", f"from 1 to {MAX_DTOS} trade_order_info_dtos")
    checked = []
    for dto in dtos:
        object_id = _text(dto, "object_id")
        if not object_id:
            raise invalid("object_id", "object_id is required")
        orders = (dto.get("order_info") or {}).get("trade_order_list")
        if (
            not isinstance(orders, list)
            or not orders
            or not all(isinstance(t, str) for t in orders)
        ):
            raise invalid("trade_order_list", "order_info.trade_order_list is required")
        package = dto.get("package_info") or {}
        package_id = _text(package, "id")
        if package_id and not PACKAGE_ID.fullmatch(package_id):
            raise invalid("package_info.id", "package id: letters, digits and underscores")
        recipient = _person(dto.get("recipient"), "recipient")
        checked.append((object_id, (cp_code, tuple(orders), package_id), recipient, dto))
    modules = []
    for object_id, key, recipient, dto in checked:
        number = b.live.get(key)
        if number is None:
            number = _number(b, market, cp_code)
            b.live[key] = number
            b.numbers[number] = {
                "cp_code": cp_code,
                "key": key,
                "state": "issued",
                "seller_nick": shop.seller_nick,
                "recipient": recipient,
                "sender": sender,
                "items": (dto.get("package_info") or {}).get("items") or [],
            }
            b.log.append(
                {"action": "get", "waybill_code": number, "cp_code": cp_code, "at": market.now}
            )
        modules.append(
            {
                "object_id": object_id,
                "waybill_code": number,
                "print_data": _print_data(
                    number, cp_code, recipient, sender, _text(dto, "template_url")
                ),
            }
        )
    return {"modules": {"waybill_cloud_print_response": modules}}


def _print_data(
    number: str, cp_code: str, recipient: dict[str, Any], sender: dict[str, Any], template: str
) -> str:
    addr = recipient["address"]
    data = {
        "waybillCode": number,
        "cpCode": cp_code,
        "recipient": recipient,
        "sender": sender,
        "routingInfo": _route(cp_code, _text(addr, "province"), _text(addr, "city")),
    }
    doc = {
        "data": data,
        "signature": hashlib.md5(orjson.dumps(data)).hexdigest().upper(),
        "templateURL": template,
    }
    return orjson.dumps(doc).decode()


def waybill_update(market: Market, shop: Shop, params: Params) -> dict[str, Any]:
    """cainiao.waybill.ii.update: the number's recipient (and items, sender) replaced."""
    b = book(market)
    raw = params.get("param_waybill_cloud_print_update_request", "")
    try:
        req = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid(
            "param_waybill_cloud_print_update_request", "the request is not JSON"
        ) from None
    if not isinstance(req, dict):
        raise invalid("param_waybill_cloud_print_update_request", "the request is an object")
    cp_code, number = _text(req, "cp_code"), _text(req, "waybill_code")
    if not cp_code or not number:
        raise invalid("waybill_code", "cp_code and waybill_code are required")
    row = b.numbers.get(number)
    if (
        row is None
        or row["cp_code"] != cp_code
        or row["seller_nick"] != shop.seller_nick
        or row["state"] != "issued"
    ):
        raise TopError(
            15, "Remote service error", "isv.waybill-not-exist", f"no waybill {number} of {cp_code}"
        )
    recipient = _person(req["recipient"], "recipient") if "recipient" in req else row["recipient"]
    sender = _person(req["sender"], "sender") if "sender" in req else row["sender"]
    items = (req.get("package_info") or {}).get("items")
    row["recipient"], row["sender"] = recipient, sender
    if isinstance(items, list):
        row["items"] = items
    b.log.append({"action": "update", "waybill_code": number, "cp_code": cp_code, "at": market.now})
    return {
        "waybill_code": number,
        "print_data": _print_data(number, cp_code, recipient, sender, _text(req, "template_url")),
    }


def waybill_cancel(market: Market, shop: Shop, params: Params) -> dict[str, Any]:
    """cainiao.waybill.ii.cancel: the number goes back; the same request draws a new one."""
    b = book(market)
    cp_code, number = params.get("cp_code", "").strip(), params.get("waybill_code", "").strip()
    if not cp_code or not number:
        raise invalid("waybill_code", "cp_code and waybill_code are required")
    row = b.numbers.get(number)
    if row is None or row["cp_code"] != cp_code or row["seller_nick"] != shop.seller_nick:
        raise TopError(
            15, "Remote service error", "isv.waybill-not-exist", f"no waybill {number} of {cp_code}"
        )
    if row["state"] == "issued":
        row["state"] = "cancelled"
        if b.live.get(row["key"]) == number:
            del b.live[row["key"]]
        b.log.append(
            {"action": "cancel", "waybill_code": number, "cp_code": cp_code, "at": market.now}
        )
    return {"cancel_result": True}


METHODS = {
    "cainiao.waybill.ii.get": waybill_get,
    "cainiao.waybill.ii.cancel": waybill_cancel,
    "cainiao.waybill.ii.update": waybill_update,
}
