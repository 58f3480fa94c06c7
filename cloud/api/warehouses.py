"""/warehouses: warehouses, their bins, and the edge nodes that serve them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status

from cloud.api.deps import NodesWrite, SessionDep, StockRead, WarehousesWrite
from cloud.api.schemas import AssignmentIn, AssignmentOut, BinOut, BinsIn, WarehouseIn, WarehouseOut
from cloud.nodes import ownership
from cloud.stock import warehouses
from cloud.sync import assignment
from protocol.topics import NODE_ID_PATTERN

router = APIRouter(prefix="/api/v1", tags=["warehouses"])


def _out(w: object) -> WarehouseOut:
    return WarehouseOut.model_validate(w, from_attributes=True)


@router.get("/warehouses")
def list_warehouses(session: SessionDep, who: StockRead) -> list[WarehouseOut]:
    return [_out(w) for w in warehouses.list_warehouses(session, who.account_id)]


@router.post("/warehouses", status_code=status.HTTP_201_CREATED)
def create_warehouse(body: WarehouseIn, session: SessionDep, who: WarehousesWrite) -> WarehouseOut:
    return _out(
        warehouses.create_warehouse(session, who.account_id, body, who.actor, datetime.now(UTC))
    )


@router.get("/warehouses/{code}/bins")
def list_bins(code: str, session: SessionDep, who: StockRead) -> list[BinOut]:
    wh = warehouses.get_warehouse(session, who.account_id, code)
    return [
        BinOut.model_validate(b, from_attributes=True) for b in warehouses.list_bins(session, wh.id)
    ]


@router.put("/warehouses/{code}/bins")
def put_bins(code: str, body: BinsIn, session: SessionDep, who: WarehousesWrite) -> list[BinOut]:
    """Create or update bins (zone, coordinates, walk order); the warehouse's nodes get them."""
    warehouses.upsert_bins(session, who.account_id, code, body.bins, who.actor, datetime.now(UTC))
    wh = warehouses.get_warehouse(session, who.account_id, code)
    return [
        BinOut.model_validate(b, from_attributes=True) for b in warehouses.list_bins(session, wh.id)
    ]


@router.put("/nodes/{node_id}/assignment")
def assign_node(
    node_id: Annotated[str, Path(pattern=NODE_ID_PATTERN)],
    body: AssignmentIn,
    session: SessionDep,
    who: NodesWrite,
) -> AssignmentOut:
    """Let an edge node serve one of the account's warehouses (it gets catalogue, bins, orders)."""
    now = datetime.now(UTC)
    assignment.assign_node(session, who.account_id, node_id, body.warehouse, who.actor, now)
    return AssignmentOut(
        node_id=node_id, warehouse=body.warehouse, changed_by=who.actor, changed_at=now
    )


@router.delete("/nodes/{node_id}/assignment", status_code=status.HTTP_204_NO_CONTENT)
def release_node(
    node_id: Annotated[str, Path(pattern=NODE_ID_PATTERN)], session: SessionDep, who: NodesWrite
) -> None:
    """The node serves none of the account's warehouses any more; it stays the account's.

    Refused (409) while it holds the pick of released orders: move those first. Another
    account's node answers 404 as one that does not exist (cloud/nodes/ownership.py).
    """
    ownership.release(session, who.account_id, node_id)
