"""Our figure of a SKU for a shop, the units of its orders we hold (D), and the marks that make
SKUs owe a shop a push: the pieces of the stock push (cloud/channels/stock_push.py, whose
docstring says why F + D − P) that the push per Shopify location
(cloud/channels/stock_locations.py) uses too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.db.channel_stock import ChannelStockItem, ChannelStockPolicy
from cloud.db.engine import dialect_of
from cloud.db.models import ChannelOrder, SalesOrder, SalesOrderLine, Sku
from cloud.stock.views import stock_view

# --- our figure ----------------------------------------------------------------------------


def of_channel(halves: bool) -> ColumnElement[bool]:
    """How a sales order is one of a channel order's: the order imported, or (``halves``) a
    split half of it (``split_from`` is the imported order's number, which is the trade's
    external id: intake.py; a trade Shopify split is imported so: sold_at.py). Two queries,
    not one join with OR: each keeps its own index."""
    if not halves:
        return ChannelOrder.order_id == SalesOrder.id
    return and_(
        ChannelOrder.order_id.is_not(None),
        SalesOrder.account_id == ChannelOrder.account_id,
        SalesOrder.split_from == ChannelOrder.external_id,
    )


def held_units(session: Session, shop_id: int, codes: list[str]) -> dict[str, int]:
    """D: units of the shop's downloaded orders our figure has taken (reserved or shipped),
    the split halves of an order included."""
    out: dict[str, int] = {}
    for halves in (False, True):
        rows = session.execute(
            select(SalesOrderLine.sku_code, func.sum(SalesOrderLine.qty))
            .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
            .join(ChannelOrder, of_channel(halves))
            .where(
                ChannelOrder.shop_id == shop_id,
                or_(SalesOrder.reserved, SalesOrder.status == "shipped"),
                SalesOrderLine.sku_code.in_(codes),
            )
            .group_by(SalesOrderLine.sku_code)
        )
        for code, n in rows:
            out[code] = out.get(code, 0) + int(n)
    return out


def our_figure(session: Session, account_id: int, code: str, now: datetime) -> int:
    """The F9 view's ``channel_stock`` of one SKU (0 for a code we do not have)."""
    return our_figure_at(session, account_id, code, None, now)


def our_figure_at(
    session: Session, account_id: int, code: str, warehouse: str | None, now: datetime
) -> int:
    """``channel_stock`` of one SKU in one warehouse (the F10 view), or in all (None)."""
    offset = 0
    while True:  # the view pages a keyword search; the code may be inside other codes
        rows = stock_view(
            session,
            account_id,
            now,
            warehouse=warehouse,
            query=code,
            columns=["channel_stock"],
            limit=200,
            offset=offset,
        )
        for r in rows:
            if r["sku_code"] == code:
                return int(r["channel_stock"])
        if len(rows) < 200:
            return 0
        offset += 200


def shown(figure: int, policy: ChannelStockPolicy) -> int:
    """F: what the shop is shown of our figure."""
    return max(0, figure - policy.safety_stock) * policy.share_pct // 100


# --- marking -------------------------------------------------------------------------------


def mark_all(session: Session, account_id: int, shop_id: int) -> None:
    """Every SKU of the account owes the shop a push (a new or changed policy, "push now")."""
    ins = (postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert)(
        ChannelStockItem
    )
    src = select(
        Sku.account_id,
        literal(shop_id, Integer).label("shop_id"),
        Sku.sku_code,
        true().label("dirty"),
        literal(1, BigInteger).label("gen"),
        literal("new", String).label("state"),
        literal(0, Integer).label("seq"),
        literal(0, Integer).label("attempts"),
    ).where(Sku.account_id == account_id)
    session.execute(
        ins.from_select(
            ["account_id", "shop_id", "sku_code", "dirty", "gen", "state", "seq", "attempts"], src
        ).on_conflict_do_update(
            index_elements=["shop_id", "sku_code"],
            set_={
                "dirty": True,
                "gen": ChannelStockItem.gen + 1,
                "next_try_at": None,
            },
        )
    )
