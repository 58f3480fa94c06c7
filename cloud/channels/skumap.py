"""A shop's SKU mapping: the seller's code on the marketplace (``outer_sku_id``) → our SKU code.

Looked up by the intake (intake.py) for every line; a code with no mapping is taken as ours.
Setting a mapping retries the shop's trades held for an unknown SKU (remap.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.channel_changes import ChannelSkuMap


def mapping(session: Session, shop_id: int, outer: set[str]) -> dict[str, str]:
    if not outer:
        return {}
    rows = session.execute(
        select(ChannelSkuMap.outer_sku_id, ChannelSkuMap.sku_code).where(
            ChannelSkuMap.shop_id == shop_id, ChannelSkuMap.outer_sku_id.in_(sorted(outer))
        )
    ).all()
    return {o: s for o, s in rows}
