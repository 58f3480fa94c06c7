"""Cainiao as a waybill provider: ``cainiao.waybill.ii.get``, ``cainiao.waybill.ii.cancel`` and
``cainiao.waybill.ii.update`` through the TOP gateway (the shop's session signs them; the answer's key keeps its
``cainiao_`` prefix: ``cainiao_waybill_ii_get_response``).

Request and answer as the TOP API pages of the two methods give them (and the research notes,
shared/research/channels.md): one JSON parameter ``param_waybill_cloud_print_apply_new_request``
with ``cp_code``, ``sender``, ``trade_order_info_dtos`` (each ``object_id``, ``order_info``,
``package_info``, ``recipient``, ``template_url``) → ``modules.waybill_cloud_print_response[]``
with ``object_id``, ``waybill_code``, ``print_data``. We send one parcel a call (the API takes
ten): a refusal then names its parcel.

``cainiao.waybill.ii.update`` (电子面单云打印更新接口, "the seller updates the details of an
e-waybill number"; its TOP API page, as the public SDKs model it: e.g. the Go SDK
bububa/opentaobao, model/waybill/WaybillCloudPrintUpdateRequest.go) takes one JSON parameter
``param_waybill_cloud_print_update_request`` with ``cp_code``, ``waybill_code``, ``object_id``,
``recipient``, ``sender``, ``package_info`` (``items``, ``volume``, ``weight``),
``template_url``, ``logistics_services``, and answers ``cainiao_waybill_ii_update_response``
with ``waybill_code`` and ``print_data``. We send the recipient and items (the sender and
template stay as drawn).

``print_data`` is kept as given (the cloud-print document); from its ``routingInfo`` we take
the route code and sorting centre, which our own label prints (protocol/devices/zpl.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from cloud.channels.ports import DrawnWaybill, Refused, WaybillRequest
from cloud.channels.taobao.client import TopClient


def _party(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(p.get("name") or ""),
        "mobile": str(p.get("phone") or ""),
        "address": {
            "province": str(p.get("province") or ""),
            "city": str(p.get("city") or ""),
            "district": str(p.get("district") or ""),
            "detail": str(p.get("address") or ""),
        },
    }


def route_of(print_data: str) -> str | None:
    """Route code and sorting centre from the print document's ``data.routingInfo``."""
    try:
        doc = orjson.loads(print_data)
    except orjson.JSONDecodeError:
        return None  # an encrypted document (need_encrypt): nothing of ours to print from it
    data = doc.get("data") if isinstance(doc, dict) else None
    routing = data.get("routingInfo") if isinstance(data, dict) else None
    if not isinstance(routing, dict):
        return None
    code = routing.get("routeCode")
    sortation = routing.get("sortation")
    centre = sortation.get("name") if isinstance(sortation, dict) else None
    text = " ".join(str(x).strip() for x in (code, centre) if isinstance(x, str) and x.strip())
    return text[:200] or None


class CainiaoWaybills:
    def __init__(self, client: TopClient) -> None:
        self.client = client

    def draw(self, request: WaybillRequest) -> DrawnWaybill:
        param = {
            "cp_code": request.cp_code,
            "sender": _party(request.sender),
            "trade_order_info_dtos": [
                {
                    "object_id": request.object_id,
                    "order_info": {
                        "order_channels_type": request.channel_type,
                        "trade_order_list": list(request.trade_orders),
                    },
                    "package_info": {
                        "id": request.package_id,
                        "items": [{"name": n, "count": c} for n, c in request.items],
                    },
                    "recipient": _party(request.recipient),
                    "template_url": request.template_url,
                }
            ],
        }
        body = self.client.call(
            "cainiao.waybill.ii.get",
            {"param_waybill_cloud_print_apply_new_request": orjson.dumps(param).decode()},
        )
        modules = body.get("modules")
        rows = modules.get("waybill_cloud_print_response") if isinstance(modules, dict) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and row.get("object_id") == request.object_id:
                code = row.get("waybill_code")
                if not isinstance(code, str) or not code.strip():
                    break
                data = row.get("print_data")
                data = data if isinstance(data, str) else ""
                return DrawnWaybill(code.strip(), data, route_of(data))
        raise Refused(f"cainiao.waybill.ii.get gave no waybill for {request.object_id}")

    def update(self, request: WaybillRequest, waybill_code: str) -> DrawnWaybill:
        param = {
            "cp_code": request.cp_code,
            "waybill_code": waybill_code,
            "object_id": request.object_id,
            "recipient": _party(request.recipient),
            "package_info": {"items": [{"name": n, "count": c} for n, c in request.items]},
        }
        body = self.client.call(
            "cainiao.waybill.ii.update",
            {"param_waybill_cloud_print_update_request": orjson.dumps(param).decode()},
        )
        code = body.get("waybill_code")
        if not isinstance(code, str) or code.strip() != waybill_code:
            raise Refused(f"cainiao.waybill.ii.update {waybill_code}: answered for {code!r}")
        data = body.get("print_data")
        data = data if isinstance(data, str) else ""
        return DrawnWaybill(waybill_code, data, route_of(data))

    def cancel(self, cp_code: str, waybill_code: str) -> None:
        body = self.client.call(
            "cainiao.waybill.ii.cancel", {"cp_code": cp_code, "waybill_code": waybill_code}
        )
        if body.get("cancel_result") is not True:
            raise Refused(f"cainiao.waybill.ii.cancel {waybill_code}: cancel_result is not true")
