"""Taobao as a shipment confirmer: ``taobao.logistics.offline.send`` (自己联系物流: ``tid``,
``out_sid`` the parcel number, ``company_code`` the courier as Taobao names it).

A confirmation whose write committed but whose answer was lost (a gateway timeout) is sent
again; Taobao then refuses it with code 15, ``isv.logistics-offline-service-error:B04``
("订单状态不对该物流订单已经发货或者已关闭，不能重复发货" — the order is shipped or closed). B04
does not say with which number, so we ask ``taobao.logistics.orders.get`` for the trade's
shipping record: the same ``out_sid`` means our confirmation is there (done); another, or
none (the trade was closed), is a failure a person must look at.

A trade a person split into several orders (拆分) ships as several parcels: each is sent
with ``is_split=1`` and ``sub_tid``, the ``oid``s of the sub-orders it carries (拆单发货;
which ones: cloud/channels/split_shipments.py). The trade is ``SELLER_CONSIGNED_PART`` until
every sub-order has shipped. B04 for a part: done when one of the trade's shipping records
has our parcel number (``is_spilt``, TOP's spelling, and ``sub_tids`` name the part).
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
        lines: dict[str, int] | None = None,
    ) -> str:
        """``lines``: the sub-orders (``oid`` → units) of one parcel of a split trade; None
        ships the trade whole. Taobao takes sub-orders, not units: ``sub_tid`` names each
        oid the parcel carries."""
        params = {"tid": external_id, "out_sid": tracking_number, "company_code": company_code}
        if lines is not None:
            params |= {"is_split": "1", "sub_tid": ",".join(sorted(lines))}
        try:
            body = self.client.call("taobao.logistics.offline.send", params)
        except Refused as err:
            if err.sub_code != ALREADY_SHIPPED:
                raise
            if lines is not None:
                if tracking_number in self.parcels_of(external_id):
                    return "already"
                raise Refused(
                    f"Taobao refuses part {','.join(sorted(lines))} of trade {external_id}: "
                    "it is shipped already with another parcel number, or the trade is closed"
                ) from None
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
        parcels = self.parcels_of(external_id)
        return parcels[0] if parcels else None

    def parcels_of(self, external_id: str) -> list[str]:
        """Every parcel number Taobao has for the trade (one, or one per part)."""
        body = self.client.call(
            "taobao.logistics.orders.get",
            {"tid": external_id, "fields": "tid,out_sid,company_name,status,is_spilt,sub_tids"},
        )
        wrapper = body.get("shippings") or {}
        rows = wrapper.get("shipping", []) if isinstance(wrapper, dict) else []
        return [
            str(row["out_sid"])
            for row in (rows if isinstance(rows, list) else [])
            if isinstance(row, dict) and str(row.get("tid")) == external_id and row.get("out_sid")
        ]
