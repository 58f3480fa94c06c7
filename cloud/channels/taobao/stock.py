"""The Taobao inventory sink (cloud/channels/ports.py ``InventorySink``).

- ``taobao.skus.custom.get`` (``outer_id`` = our SKU code, the 商家编码 the intake maps by):
  the SKU's ``num_iid``, ``sku_id`` and ``quantity`` on sale.
- ``taobao.item.quantity.update`` with ``type=2`` (增量): a signed change applied by the
  marketplace atomically with the buyers' purchases, and ``outer_biz_key``, Tmall's
  idempotency key for incremental updates (the same key is applied once), so a change whose
  answer was lost is sent again with its key.
- ``type=1`` (全量, an overwrite) only for the ablation test.
"""

from __future__ import annotations

from typing import Any

from cloud.channels.ids import digits
from cloud.channels.ports import ChannelListing, Refused
from cloud.channels.taobao.client import TopClient

FIELDS = "sku_id,num_iid,outer_id,quantity,modified"


def _int(value: Any, what: str) -> int:
    text = digits(value)
    if text is None:
        raise Refused(f"{what} is not a whole number: {str(value)[:40]!r}")
    return int(text)


class TaobaoStock:
    #: ``outer_biz_key`` (Tmall) applies a key once.
    keyed = True

    def __init__(self, client: TopClient) -> None:
        self.client = client

    @property
    def calls(self) -> int:
        return self.client.calls

    def listing(self, sku_code: str) -> ChannelListing | None:
        body = self.client.call("taobao.skus.custom.get", {"outer_id": sku_code, "fields": FIELDS})
        rows = (body.get("skus") or {}).get("sku") or []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and row.get("outer_id") == sku_code:
                return ChannelListing(
                    str(_int(row.get("num_iid"), "num_iid")),
                    str(_int(row.get("sku_id"), "sku_id")),
                    _int(row.get("quantity"), "quantity"),
                )
        return None

    def _update(self, listing: ChannelListing, params: dict[str, str]) -> int:
        body = self.client.call(
            "taobao.item.quantity.update",
            {"num_iid": listing.item_id, "sku_id": listing.sku_id, **params},
        )
        item = body.get("item") or {}
        for row in ((item.get("skus") or {}).get("sku") or []) if isinstance(item, dict) else []:
            if isinstance(row, dict) and str(row.get("sku_id")) == listing.sku_id:
                return _int(row.get("quantity"), "quantity")
        raise Refused("taobao.item.quantity.update: the answer has not the SKU changed")

    def add(self, listing: ChannelListing, delta: int, key: str) -> int:
        return self._update(listing, {"quantity": str(delta), "type": "2", "outer_biz_key": key})

    def set(self, listing: ChannelListing, quantity: int) -> int:
        return self._update(listing, {"quantity": str(quantity), "type": "1"})
