"""A returns station's receipt (return.received), booked once under its receipt id
(docs/inbound.md, returns slice)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from cloud import tasks
from cloud.aftersales import workflow as aftersales
from cloud.errors import N_, DomainError
from cloud.facts.common import check_at
from protocol.messages import ReturnReceived

RETURN_CONFLICT: Final = "return_conflict"


def return_received(
    session: Session, account_id: int, node: str, ev: ReturnReceived, now: datetime
) -> None:
    """A return received and QC'd at a returns station: booked once under its receipt id
    (cloud/aftersales/workflow.py). One the hub cannot book (the request rejected meanwhile,
    received already under another receipt, another warehouse) is kept, books nothing, and
    a task says why: the parcel is on the returns table and a person decides."""
    p = ev.payload
    try:
        check_at(session, account_id, node, p.warehouse)
        with session.begin_nested():
            aftersales.receive(
                session,
                account_id,
                p.request,
                p.receipt_id,
                p.warehouse,
                [
                    aftersales.ReturnLine(
                        ln.line_no, ln.sku_code, ln.sellable, ln.damaged, ln.missing, ln.reason
                    )
                    for ln in p.lines
                ],
                f"node:{node}",
                now,
                return_waybill=p.return_waybill,
            )
    except DomainError as e:
        tasks.open_task(
            session,
            account_id,
            RETURN_CONFLICT,
            N_(
                "return %(receipt)s from %(node)s for after-sales request %(request)s was not"
                " booked: %(why)s. The parcel is at the returns table; book it by hand or send"
                " it back."
            ),
            now,
            params={
                "receipt": p.receipt_id,
                "node": node,
                "request": p.request,
                "why": tasks.said(e),
            },
            node_id=node,
            event_id=str(ev.id),
        )
