"""The catalogue at the edge: what a node is sent when it first meets the hub or is
assigned, and the downlink it has not applied yet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.catalogue.skus import edge_view, to_in
from cloud.db.engine import one_of
from cloud.db.models import Node, NodeAssignment, Sku
from cloud.nodes import downlink
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
    """A node seen for the first time gets its account's catalogue (unassigned: the default)."""
    seed_new_nodes(session, [node], now)


def seed_new_nodes(session: Session, nodes: list[Node], now: datetime) -> None:
    """:func:`seed_new_node` for many nodes: each account's catalogue is read once.

    Hundreds of nodes meet the hub at once when a site comes up; read per node, the
    catalogue held every hello (and every event behind them) for seconds.
    """
    if not nodes:
        return
    ids = [n.node_id for n in nodes]
    accounts: dict[str, int] = {
        node_id: account_id
        for node_id, account_id in session.execute(
            select(NodeAssignment.node_id, NodeAssignment.account_id).where(
                one_of(session, NodeAssignment.node_id, ids)
            )
        )
    }
    by_account: dict[int, list[Node]] = {}
    for n in nodes:
        by_account.setdefault(accounts.get(n.node_id, downlink.DEFAULT_ACCOUNT), []).append(n)
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
