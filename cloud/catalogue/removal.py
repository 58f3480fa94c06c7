"""Deleting a SKU: only one nothing refers to yet.

Why delete and not deactivate: the hub names a SKU by its code in the ledger, orders,
purchase orders, transfers, after-sales, channel listings, the books and serial sightings,
with no foreign key to the catalogue (those rows must outlive any edit of it). A SKU that
any of them names has history, and deleting it would leave that history pointing at
nothing, so it is refused with what holds it (409). What a seller deletes in practice is a
SKU entered by mistake (a typo in the code, a test row of an import): it has no history,
and deleting it frees its code and barcodes for the right entry. Hiding a discontinued SKU
that does have history (an "inactive" flag, with rules for what an inactive SKU does when a
channel order still names it) is not built: it needs a column of its own.

The account's nodes are told in the same transaction (``catalogue.remove`` on their
downlink, docs/protocol.md): each drops the SKU and its barcodes, so a scan of one is an
unknown code there as it is at the hub. The change has the SKU's downlink key, so
compaction keeps the removal and drops the SKU's upserts before it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, or_, select
from sqlalchemy.orm import Session

from cloud.db.aftersales import AftersalesLine, AftersalesRefund
from cloud.db.channel_changes import ChannelSkuMap
from cloud.db.channel_stock import ChannelStockItem
from cloud.db.finance import FinItemCost, FinShipmentCost
from cloud.db.models import (
    Barcode,
    BinLevel,
    PurchaseOrderLine,
    SalesOrder,
    SalesOrderLine,
    Sku,
    SkuComponent,
    StockLevel,
    StockMovement,
    StockSalesDay,
    Warehouse,
)
from cloud.db.serials import SerialLabelRequest, SerialSighting
from cloud.db.transfers import TransferLine
from cloud.errors import N_, ConflictError, NotFoundError, Sentence
from cloud.nodes import downlink
from protocol.messages import CatalogueRemove

Where = Callable[[int, str], ColumnElement[bool]]


def _rows(model: Any, column: str = "sku_code") -> Where:
    """Rows of ``model`` (with an ``account_id``) that name the SKU in ``column``."""
    return lambda account, code: exists().where(
        model.account_id == account, getattr(model, column) == code
    )


def _order_lines(account: int, code: str) -> ColumnElement[bool]:
    return exists().where(
        SalesOrderLine.sku_code == code,
        SalesOrderLine.order_id == SalesOrder.id,
        SalesOrder.account_id == account,
    )


def _bins(account: int, code: str) -> ColumnElement[bool]:
    return exists().where(
        BinLevel.sku_code == code,
        BinLevel.warehouse_id == Warehouse.id,
        Warehouse.account_id == account,
    )


def _aftersales(account: int, code: str) -> ColumnElement[bool]:
    return exists().where(
        AftersalesLine.account_id == account,
        or_(AftersalesLine.sku_code == code, AftersalesLine.exchange_sku_code == code),
    )


#: What a SKU's history may be, each with the words that name it in a refusal. Checked in
#: this order; the first found is named (the ledger first: the likeliest, and indexed).
HISTORY: list[tuple[Where, str]] = [
    (_rows(StockMovement), N_("stock movements in the ledger")),
    (_rows(StockLevel), N_("stock levels in a warehouse")),
    (_bins, N_("stock in a bin")),
    (_rows(StockSalesDay), N_("sales figures")),
    (_order_lines, N_("sales order lines")),
    (_rows(PurchaseOrderLine), N_("purchase order lines")),
    (_rows(TransferLine), N_("transfer lines")),
    (_aftersales, N_("after-sales lines")),
    (_rows(AftersalesRefund), N_("after-sales refunds")),
    (_rows(ChannelSkuMap), N_("a shop's listing mapped to it")),
    (_rows(ChannelStockItem), N_("stock pushed to a shop")),
    (_rows(FinItemCost, "sku"), N_("costs in the books")),
    (_rows(FinShipmentCost, "sku"), N_("costs in the books")),
    (_rows(SerialSighting), N_("serial numbers seen")),
    (_rows(SerialLabelRequest), N_("serial labels asked for")),
]


def history(session: Session, account_id: int, sku_code: str) -> Sentence | None:
    """What names the SKU outside the catalogue (the first kind found), or None."""
    bundle = session.execute(
        select(SkuComponent.sku_code).where(
            SkuComponent.account_id == account_id, SkuComponent.component_code == sku_code
        )
    ).first()
    if bundle is not None:
        return Sentence(N_("bundle %(bundle)s, which it is a component of"), bundle=bundle[0])
    for where, words in HISTORY:
        if session.execute(select(where(account_id, sku_code))).scalar():
            return Sentence(words)
    return None


def delete_sku(session: Session, account_id: int, sku_code: str, now: datetime) -> None:
    """Delete a SKU of the account with its barcodes and components: 404 when it is not the
    account's, 409 (changing nothing) when anything names it (:func:`history`)."""
    sku = session.get(Sku, (account_id, sku_code), with_for_update=True)
    if sku is None:
        raise NotFoundError(N_("no SKU %(sku_code)r"), sku_code=sku_code)
    why = history(session, account_id, sku_code)
    if why is not None:
        raise ConflictError(
            N_(
                "SKU %(sku)s has %(why)s, so it stays in the catalogue: only a SKU nothing"
                " refers to yet can be deleted"
            ),
            sku=sku_code,
            why=why,
        )
    mine = (Barcode.account_id == account_id, Barcode.sku_code == sku_code)
    session.execute(delete(Barcode).where(*mine))
    session.execute(
        delete(SkuComponent).where(
            SkuComponent.account_id == account_id, SkuComponent.sku_code == sku_code
        )
    )
    session.delete(sku)
    session.flush()
    nodes = downlink.nodes_of_account(session, account_id)
    downlink.push(session, nodes, "catalogue.remove", [CatalogueRemove(sku_code=sku_code)], now)
