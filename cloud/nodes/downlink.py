"""Per-node downlink (cloud -> edge): which nodes serve an account or warehouse, and appending.

A node serves the account and warehouse of its :class:`NodeAssignment`; it receives the
catalogue of the account that owns it (cloud/nodes/ownership.py) even before it is
assigned. A node the hub has seen without any enrollment record belongs to the "default"
account (id 1), the single seller of a fresh install and of the walking skeleton.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.orm import Session, aliased

from cloud.db.models import BinLevel, Downlink, Node, NodeAssignment, Warehouse

# DEFAULT_ACCOUNT is re-exported: callers name it as downlink.DEFAULT_ACCOUNT.
from cloud.nodes.ownership import DEFAULT_ACCOUNT as DEFAULT_ACCOUNT
from cloud.nodes.ownership import owned_by
from protocol.messages import (
    CHANGE_ADAPTER,
    BinsUpsert,
    CatalogueRemove,
    CatalogueUpsert,
    Change,
    DownBatch,
    Message,
    OrderRelease,
    PoRelease,
    ReturnRelease,
    StockExpected,
    StockLevel,
    TransferOutbound,
    TransferRelease,
    WaybillPoolTopUp,
)

#: ``session.info`` key: node -> downlink seq to push from once the transaction commits.
PUSHES: Final = "guanjia.downlink_pushes"


def pushes_of(session: Session) -> dict[str, int]:
    """Take what this session queued for nodes (call after its commit)."""
    return dict(session.info.pop(PUSHES, {}))


def push_bin_stock(
    session: Session, account_id: int, bins: set[tuple[int, str]], now: datetime
) -> None:
    """Send the nodes of each warehouse the current stock of these bins (``stock.expected``).

    Pick nodes allocate from it, counts compare against it. Called whenever movements
    touch bins; a superseded figure for the same bins is dropped by compaction.
    """
    by_wh: dict[int, set[str]] = {}
    for wh_id, code in bins:
        by_wh.setdefault(wh_id, set()).add(code)
    for wh_id, codes in sorted(by_wh.items()):
        nodes = nodes_of_warehouse(session, wh_id)
        if not nodes:
            continue
        wh = session.get(Warehouse, wh_id)
        if wh is None or wh.account_id != account_id:
            continue
        ordered = sorted(codes)
        for i in range(0, len(ordered), 500):
            chunk = ordered[i : i + 500]
            rows = session.execute(
                select(BinLevel.bin_code, BinLevel.sku_code, BinLevel.qty).where(
                    BinLevel.warehouse_id == wh_id, BinLevel.bin_code.in_(chunk), BinLevel.qty > 0
                )
            ).all()
            item = StockExpected(
                warehouse=wh.code,
                bins=chunk,
                levels=[StockLevel(bin=b, sku_code=s, qty=q) for b, s, q in rows],
            )
            push(session, nodes, "stock.expected", [item], now)


def change_key(type_: str, item: Message) -> str:
    """The key a change is about; a later change with the same key supersedes it."""
    if isinstance(item, CatalogueUpsert | CatalogueRemove):
        # One key for both: a removal supersedes the SKU's upserts, and the upsert of a SKU
        # created again under the code supersedes the removal.
        return f"sku:{item.sku_code}"
    if isinstance(item, OrderRelease):
        return f"order:{item.order_id}"
    if isinstance(item, BinsUpsert):
        return f"bins:{item.warehouse}:" + ",".join(sorted(b.code for b in item.bins))
    if isinstance(item, PoRelease):
        return f"po:{item.warehouse}:{item.po_number}"
    if isinstance(item, ReturnRelease):
        return f"return:{item.warehouse}:{item.request}"
    if isinstance(item, TransferRelease):
        return f"transfer:{item.warehouse}:{item.transfer_number}"
    if isinstance(item, WaybillPoolTopUp):
        # A top-up is superseded only by itself sent again with the numbers left unused.
        return f"waybill.pool:{item.batch}"
    if isinstance(item, TransferOutbound):
        return f"transfer-out:{item.warehouse}:{item.transfer_number}"
    if isinstance(item, StockExpected):
        return f"stock:{item.warehouse}:" + ",".join(sorted(item.bins))
    return f"{type_}:{item.model_dump_json()}"  # unknown kinds are never superseded


def append(session: Session, node: Node, type_: str, item: Message, now: datetime) -> None:
    # Remember, per node, the seq before the first change of this transaction: whoever
    # commits it pushes from there (cloud/api/deps.py, cloud/sync/worker.py).
    session.info.setdefault(PUSHES, {}).setdefault(node.node_id, node.down_head)
    node.down_head += 1
    session.add(
        Downlink(
            node_id=node.node_id,
            seq=node.down_head,
            type=type_,
            key=change_key(type_, item)[:300],
            payload=item.model_dump(mode="json"),
            created_at=now,
        )
    )


def compact(session: Session, node_id: str | None = None) -> int:
    """Drop downlink changes superseded by a later change of the same key; return how many.

    What remains is, per key, the newest change: replaying it from any cursor
    converges to the same state as replaying the whole log (each change is a
    full upsert of its key). A node that was offline past any number of
    compactions therefore resyncs from this compacted log, which is the
    snapshot; each batch it gets is applied atomically with its cursor.
    """
    newer = aliased(Downlink)
    superseded = select(Downlink.node_id, Downlink.seq).where(
        exists().where(
            newer.node_id == Downlink.node_id,
            newer.key == Downlink.key,
            newer.seq > Downlink.seq,
        )
    )
    if node_id is not None:
        superseded = superseded.where(Downlink.node_id == node_id)
    victims = session.execute(superseded).all()
    for chunk in range(0, len(victims), 1000):
        part = victims[chunk : chunk + 1000]
        session.execute(
            delete(Downlink).where(
                tuple_(Downlink.node_id, Downlink.seq).in_([(n, q) for n, q in part])
            )
        )
    return len(victims)


def nodes_of_account(session: Session, account_id: int) -> list[Node]:
    """The account's nodes, locked (their ``down_head`` moves in this transaction)."""
    q = select(Node).where(owned_by(account_id))
    return list(session.execute(q.order_by(Node.node_id).with_for_update()).scalars().all())


def nodes_of_warehouse(session: Session, warehouse_id: int) -> list[Node]:
    assigned = select(NodeAssignment.node_id).where(NodeAssignment.warehouse_id == warehouse_id)
    return list(
        session.execute(
            select(Node).where(Node.node_id.in_(assigned)).order_by(Node.node_id).with_for_update()
        )
        .scalars()
        .all()
    )


def push(
    session: Session, nodes: list[Node], type_: str, items: list[Message], now: datetime
) -> dict[str, int]:
    """Append ``items`` to each node's downlink; return each node's seq before them (to push from)."""
    before = {n.node_id: n.down_head for n in nodes}
    for node in nodes:
        for item in items:
            append(session, node, type_, item, now)
    return before


def downlink_after(session: Session, node: Node, after: int, limit: int = 500) -> DownBatch:
    rows = session.execute(
        select(Downlink)
        .where(Downlink.node_id == node.node_id, Downlink.seq > after)
        .order_by(Downlink.seq)
        .limit(limit)
    ).scalars()
    changes: list[Change] = [
        CHANGE_ADAPTER.validate_python({"seq": r.seq, "type": r.type, "payload": r.payload})
        for r in rows
    ]
    # ``after``: these continue the log right after the node's cursor, possibly compacted.
    return DownBatch(node=node.node_id, changes=changes, head=node.down_head, after=after)
