"""Edge facts → order states, ledger movements and tasks for humans.

Called by cloud/sync/ingest.py in the transaction that stores the events, for the events newly
applied (a (node, seq) is applied once, so each fact is acted on once; movements also carry
``event_key`` = ``node:seq:n``, unique in the ledger). Rules (docs/sync.md "Conflicts"):

* Order state belongs to the cloud and only moves forward: a fact for a later step moves
  the order there; a fact for an earlier step is recorded and changes nothing.
* A fact that conflicts with the cloud's state (packed after cancel, picked while on hold,
  an order the cloud does not know) is accepted, changes nothing, and opens a task.
* A pick by a node that does not hold the order's pick lease (cloud/orders/release.py) is
  accepted, books nothing (the holder's pick is the one counted) and opens a task.
* Stock facts are physical truth: a pick or count that would drive a bin or the stock
  negative is booked with a logged override and a task, never refused.

One module per flow: order facts (orders.py), stocktakes (counts.py), PO receipts
(receipts.py), returns (returns.py), transfers (transfers.py), serials (serials.py); closing
the tasks they open (resolve.py); what they share (common.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from cloud.errors import N_
from cloud.facts.counts import COUNT_VARIANCE, approve_count, count, count_moves
from cloud.facts.orders import PICK_LEASE_CONFLICT, TARGET, order_fact
from cloud.facts.receipts import RECEIPT_CONFLICT, po_received
from cloud.facts.resolve import ACTION_SCOPES, resolve_task
from cloud.facts.returns import RETURN_CONFLICT, return_received
from cloud.facts.serials import SERIAL_CONFLICT, record_serials
from cloud.facts.transfers import (
    SHIPMENT_CONFLICT,
    lock_transfer,
    transfer_received,
    transfer_shipped,
)
from cloud.inbound import serial_labels
from cloud.nodes import ownership
from cloud.orders import waybill_pool
from protocol.messages import (
    Event,
    OrderLabelled,
    OrderPacked,
    OrderPicked,
    OrderWeighed,
    PoReceived,
    ReturnReceived,
    SerialLabelPrinted,
    StocktakeCounted,
    TransferReceived,
    TransferShipped,
    WaybillPoolReleased,
    WaybillPoolUsed,
)

__all__ = [
    "ACTION_SCOPES",
    "COUNT_VARIANCE",
    "PICK_LEASE_CONFLICT",
    "RECEIPT_CONFLICT",
    "RETURN_CONFLICT",
    "SERIAL_CONFLICT",
    "SHIPMENT_CONFLICT",
    "TARGET",
    "TASK_WORDS",
    "apply_facts",
    "approve_count",
    "count_moves",
    "resolve_task",
]

#: Words a task's detail puts in as they are (a fact's type, a count's method and scope,
#: protocol/messages.py), marked for the catalogue: the pages say a known word in their
#: language (cloud/tasks.py ``say``), the English detail keeps the word itself.
#: tests/cloud/web/test_task_details.py checks every event type is here.
TASK_WORDS: Final = (
    N_("scan.recorded"),
    N_("node.started"),
    N_("order.picked"),
    N_("order.packed"),
    N_("order.weighed"),
    N_("order.labelled"),
    N_("stocktake.counted"),
    N_("po.received"),
    N_("return.received"),
    N_("transfer.received"),
    N_("transfer.shipped"),
    N_("waybill.pool_used"),
    N_("waybill.pool_released"),
    N_("serial.label_printed"),
    N_("scanner"),
    N_("rfid"),
    N_("full"),
    N_("partial"),
)


def apply_facts(session: Session, node: str, events: Sequence[Event], now: datetime) -> None:
    account_id = ownership.account_of(session, node)
    if account_id is None:
        # A node waiting for its claim code is no account's: its events are stored (its
        # owner reads them once it claims it) but book nothing in anyone's stock or orders.
        return
    for ev in events:
        if isinstance(ev, OrderPicked | OrderPacked | OrderWeighed | OrderLabelled):
            order_fact(session, account_id, node, ev, now)
        elif isinstance(ev, StocktakeCounted):
            count(session, account_id, node, ev, now)
        elif isinstance(ev, PoReceived):
            po_received(session, account_id, node, ev, now)
        elif isinstance(ev, ReturnReceived):
            return_received(session, account_id, node, ev, now)
        elif isinstance(ev, TransferReceived):
            # Its serials first: the transfer.release the booking sends leaves out the
            # serials that arrived (cloud/inbound/transfer_serials.py). Under the transfer's
            # row lock, taken here before the booking takes it again: two nodes' receipts of
            # one serial are recorded in turn, so the second sees the first.
            lock_transfer(session, account_id, ev.payload.transfer_number)
            record_serials(session, account_id, node, ev, now)
            transfer_received(session, account_id, node, ev, now)
            continue
        elif isinstance(ev, WaybillPoolUsed):
            waybill_pool.bind(session, account_id, node, ev, now)
        elif isinstance(ev, WaybillPoolReleased):
            waybill_pool.released(session, account_id, node, ev, now)
        elif isinstance(ev, SerialLabelPrinted):
            serial_labels.printed(session, account_id, node, ev, now)
            continue  # its step is written there
        elif isinstance(ev, TransferShipped) and not transfer_shipped(
            session, account_id, node, ev, now
        ):
            continue  # refused: the units were put back, they did not leave
        record_serials(session, account_id, node, ev, now)
