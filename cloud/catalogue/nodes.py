"""The catalogue at the edge: what a node is sent when it first meets the hub or is
assigned, and the downlink it has not applied yet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.catalogue.skus import edge_view, to_in
from cloud.db.models import Node, Sku
from cloud.nodes import downlink, ownership
from protocol.messages import (
    DownBatch,
)

# --- nodes ---------------------------------------------------------------------------


def seed_catalogue(session: Session, node: Node, account_id: int, now: datetime) -> None:
    """Queue the account's whole catalogue for a node (new, or newly assigned)."""
    skus = (
        session.execute(select(Sku).where(Sku.account_id == account_id).order_by(Sku.sku_code))
        .scalars()
        .all()
    )
    for item in to_in(session, account_id, skus):
        if item.barcodes:
            downlink.append(session, node, "catalogue.upsert", edge_view(item), now)


def seed_new_node(session: Session, node: Node, now: datetime) -> None:
    """A node seen for the first time gets its owner's catalogue (cloud/nodes/ownership.py)."""
    seed_new_nodes(session, [node], now)


def seed_new_nodes(session: Session, nodes: list[Node], now: datetime) -> None:
    """:func:`seed_new_node` for many nodes: each account's catalogue is read once.

    Hundreds of nodes meet the hub at once when a site comes up; read per node, the
    catalogue held every hello (and every event behind them) for seconds.
    """
    if not nodes:
        return
    # Its owner's catalogue; a node that waits for its claim code is no one's and gets none
    # (cloud/nodes/ownership.py).
    accounts = ownership.accounts_of(session, [n.node_id for n in nodes])
    by_account: dict[int, list[Node]] = {}
    for n in nodes:
        account_id = accounts[n.node_id]
        if account_id is not None:
            by_account.setdefault(account_id, []).append(n)
    for account_id, members in sorted(by_account.items()):
        skus = (
            session.execute(select(Sku).where(Sku.account_id == account_id).order_by(Sku.sku_code))
            .scalars()
            .all()
        )
        views = [edge_view(item) for item in to_in(session, account_id, skus) if item.barcodes]
        for node in members:
            for view in views:
                downlink.append(session, node, "catalogue.upsert", view, now)


def downlink_after(session: Session, node: Node, after: int, limit: int = 500) -> DownBatch:
    return downlink.downlink_after(session, node, after, limit)
