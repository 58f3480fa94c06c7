"""Pick leases in bulk: move the picks of many released orders to one pick node.

The API's side of the dashboard's bulk move (cloud/web/pages/leases.py, POST
/web/pick-leases): the same domain call (cloud/orders/release.py ``move_many``), so the
same rules hold. All or nothing: one order refused (not released, already on that node,
another seller's, listed twice) and none moves, the refusal naming it; every node the moves
write to is locked first in id order; at most ``MOVE_MANY_MAX`` orders at once. One order's
move is ``POST /api/v1/orders/{order_no}/pick-node`` (cloud/api/orders.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.deps import NodesWrite, SessionDep
from cloud.orders import release as releases
from protocol.messages import NodeId, OrderId

router = APIRouter(prefix="/api/v1/pick-leases", tags=["sync"])


class PickLeasesMoveIn(releases.PickNodeIn):
    """The orders whose pick moves to ``node``, and why (one reason for all)."""

    model_config = ConfigDict(extra="forbid")
    order_nos: Annotated[list[OrderId], Field(min_length=1, max_length=releases.MOVE_MANY_MAX)]


class PickLeasesMoved(BaseModel):
    node: NodeId
    moved: list[OrderId]


@router.post(
    "/moves",
    responses={
        404: {"description": "an order is not one of the account's (named); nothing moved"},
        409: {"description": "an order may not move (named, with why); nothing moved"},
    },
)
def move_leases(body: PickLeasesMoveIn, session: SessionDep, who: NodesWrite) -> PickLeasesMoved:
    """Lease the picks of ``order_nos`` to ``node``, a pick node of their warehouse: every
    order moves, or none does."""
    releases.move_many(
        session,
        who.account_id,
        [(no, None) for no in body.order_nos],
        releases.PickNodeIn(node=body.node, reason=body.reason),
        who.actor,
        datetime.now(UTC),
    )
    return PickLeasesMoved(node=body.node, moved=body.order_nos)
