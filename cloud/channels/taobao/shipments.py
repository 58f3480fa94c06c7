"""Taobao as a shipment confirmer: ``taobao.logistics.offline.send`` (自己联系物流: ``tid``,
``out_sid`` the parcel number, ``company_code`` the courier as Taobao names it).

A confirmation whose write committed but whose answer was lost (a gateway timeout) is sent
again; Taobao then refuses it with code 15, ``isv.logistics-offline-service-error:B04``
("订单状态不对该物流订单已经发货或者已关闭，不能重复发货" — the order is shipped or closed). B04
does not say with which number, so we ask ``taobao.logistics.orders.get`` for the trade's
shipping record: the same ``out_sid`` means our confirmation is there (done); another, or
none (the trade was closed), is a failure a person must look at.
"""

from __future__ import annotations

from cloud.channels.ports import Refused
from cloud.channels.taobao.client import TopClient

ALREADY_SHIPPED = "isv.logistics-offline-service-error:B04"


class TaobaoShipments:
    def __init__(self, client: TopClient) -> None:
        self.client = client

    def confirm(
        self,
        external_id: str,
        tracking_number: str,
        company_code: str,
        *,
        location: str | None = None,  # Taobao has no locations: not sent
        lines: dict[str, int] | None = None,  # a trade is shipped whole here: not sent
    ) -> str:
        try:
            body = self.client.call(
                "taobao.logistics.offline.send",
                {"tid": external_id, "out_sid": tracking_number, "company_code": company_code},
            )
        except Refused as err:
            if err.sub_code != ALREADY_SHIPPED:
                raise
            have = self.shipped_with(external_id)
            if have == tracking_number:
                return "already"
            if have is None:
                raise Refused(
                    f"Taobao refuses to ship trade {external_id}: it is closed or shipped "
                    "outside Guanjia, with no parcel number on record"
                ) from None
            raise Refused(
                f"trade {external_id} is shipped on Taobao with parcel number {have}, "
                f"not {tracking_number}"
            ) from None
        shipping = body.get("shipping")
        if not isinstance(shipping, dict) or shipping.get("is_success") is not True:
            raise Refused(f"logistics.offline.send {external_id}: is_success is not true")
        return "sent"

    def shipped_with(self, external_id: str) -> str | None:
        """The parcel number Taobao has for the trade, if any."""
        body = self.client.call(
            "taobao.logistics.orders.get",
            {"tid": external_id, "fields": "tid,out_sid,company_name,status"},
        )
        wrapper = body.get("shippings") or {}
        rows = wrapper.get("shipping", []) if isinstance(wrapper, dict) else []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and str(row.get("tid")) == external_id and row.get("out_sid"):
                return str(row["out_sid"])
        return None
