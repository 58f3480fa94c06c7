"""After-sales requests from a marketplace's refunds (退款, cloud/channels/refunds.py).

A refund the buyer asks *after* shipping is after-sales: the channel layer records it
(``channel_refund``) and calls :func:`from_refund`, which makes one request per (shop,
refund id) however often the refund is downloaded: a return when the buyer sends goods
back (Taobao's ``has_good_return``), else a refund only. Customer service then audits it
like any other request. This module reads the channel tables only; the channel layer sits
above it (pyproject.toml, cloud-layers) and nothing here imports cloud.channels.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.aftersales import requests
from cloud.db.aftersales import AftersalesRequest
from cloud.db.channel_changes import ChannelRefund
from cloud.db.models import ChannelOrder, SalesOrder, SalesOrderLine

ACTOR = "channel"


def _wants_goods(payload: dict[str, object]) -> bool:
    flag = payload.get("has_good_return")
    return flag is True or str(flag).lower() == "true"


def from_refund(session: Session, refund: ChannelRefund, now: datetime) -> AftersalesRequest | None:
    """The request of this refund (made now, or before); None when the refund is not
    after-sales (its order unknown or not shipped, or its line not on our order)."""
    key = f"channel:{refund.shop_id}:{refund.refund_id}"
    had = session.execute(
        select(AftersalesRequest).where(
            AftersalesRequest.account_id == refund.account_id,
            AftersalesRequest.source_key == key,
        )
    ).scalar_one_or_none()
    if had is not None:
        return had
    o = session.execute(
        select(SalesOrder)
        .join(ChannelOrder, ChannelOrder.order_id == SalesOrder.id)
        .where(
            ChannelOrder.shop_id == refund.shop_id, ChannelOrder.external_id == refund.external_id
        )
    ).scalar_one_or_none()
    if o is None or o.status != "shipped":
        return None
    line = session.execute(
        select(SalesOrderLine).where(
            SalesOrderLine.order_id == o.id, SalesOrderLine.line_id == refund.oid
        )
    ).scalar_one_or_none()
    if line is None:
        return None
    payload = refund.payload or {}
    try:
        qty = int(str(payload.get("num") or line.qty))
    except ValueError:
        qty = line.qty
    qty = max(1, min(qty, line.qty))
    asked, _ = requests.asked_before(session, o.account_id, o.id).get(line.line_id, (0, []))
    qty = min(qty, line.qty - asked)
    if qty < 1:
        return None  # everything of the line is asked back already (another request)
    req, _new = requests.create(
        session,
        o.account_id,
        o.order_no,
        "return" if _wants_goods(payload) else "refund_only",
        [requests.LineIn(line.line_id, qty)],
        ACTOR,
        now,
        number=f"AS-{refund.refund_id}"[:64],
        reason=str(payload.get("reason") or f"channel refund {refund.refund_id}")[:300],
        source="channel",
        source_key=key,
    )
    return req
