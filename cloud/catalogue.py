"""The catalogue as far as edges need it: SKUs and barcodes, pushed down per node.

(Issue 4 grows this into the full catalogue: code rules, bundles, components.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cloud.models import Barcode, Downlink, Node, Sku
from protocol.messages import CHANGE_ADAPTER, CatalogueUpsert, Change, DownBatch


class ConflictError(Exception):
    """A request conflicts with the hub's state (HTTP 409)."""


def sku_change(sku: Sku, barcodes: list[str]) -> CatalogueUpsert:
    return CatalogueUpsert(
        sku_code=sku.sku_code, name=sku.name, barcodes=barcodes, weight_g=sku.weight_g
    )


def upsert_sku(session: Session, item: CatalogueUpsert, now: datetime) -> dict[str, int]:
    """Create or update a SKU and its barcodes; queue the change for every node.

    Returns, per node, the downlink seq just before the new change (to push from). A barcode already bound to
    another SKU is a conflict: one scan must mean one SKU.
    """
    taken = session.execute(
        select(Barcode.barcode, Barcode.sku_code).where(
            Barcode.barcode.in_(item.barcodes), Barcode.sku_code != item.sku_code
        )
    ).all()
    if taken:
        bc, owner = taken[0]
        raise ConflictError(f"barcode {bc} already belongs to SKU {owner}")
    sku = session.get(Sku, item.sku_code)
    if sku is None:
        sku = Sku(sku_code=item.sku_code, name=item.name, weight_g=item.weight_g, updated_at=now)
        session.add(sku)
    else:
        sku.name, sku.weight_g, sku.updated_at = item.name, item.weight_g, now
    session.flush()
    session.execute(delete(Barcode).where(Barcode.sku_code == item.sku_code))
    session.add_all(Barcode(barcode=b, sku_code=item.sku_code) for b in item.barcodes)
    nodes = session.execute(select(Node).with_for_update()).scalars().all()
    before = {n.node_id: n.down_head for n in nodes}
    for node in nodes:
        _append(session, node, item, now)
    return before


def _append(session: Session, node: Node, item: CatalogueUpsert, now: datetime) -> None:
    node.down_head += 1
    session.add(
        Downlink(
            node_id=node.node_id,
            seq=node.down_head,
            type="catalogue.upsert",
            payload=item.model_dump(mode="json"),
            created_at=now,
        )
    )


def seed_new_node(session: Session, node: Node, now: datetime) -> None:
    """A node seen for the first time gets the whole catalogue in its downlink."""
    skus = session.execute(select(Sku).order_by(Sku.sku_code)).scalars().all()
    codes: dict[str, list[str]] = {}
    for bc, code in session.execute(
        select(Barcode.barcode, Barcode.sku_code).order_by(Barcode.barcode)
    ):
        codes.setdefault(code, []).append(bc)
    for sku in skus:
        if codes.get(sku.sku_code):
            _append(session, node, sku_change(sku, codes[sku.sku_code]), now)


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
    return DownBatch(node=node.node_id, changes=changes, head=node.down_head)


def list_skus(session: Session, limit: int, offset: int) -> list[tuple[Sku, list[str]]]:
    skus = (
        session.execute(select(Sku).order_by(Sku.sku_code).limit(limit).offset(offset))
        .scalars()
        .all()
    )
    out = []
    for sku in skus:
        bcs = session.execute(
            select(Barcode.barcode)
            .where(Barcode.sku_code == sku.sku_code)
            .order_by(Barcode.barcode)
        ).scalars()
        out.append((sku, list(bcs)))
    return out


def count_skus(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Sku)).scalar_one())
