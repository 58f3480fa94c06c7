"""Stock as a ledger: append-only movements, and the levels derived from them.

Rules (docs/cloud.md "Stock ledger"; docs/sync.md "Conflicts"):

* A movement is never updated or deleted. A mistake is undone by a ``reversal`` that
  points at it (``reverses_id`` is unique, so nothing is reversed twice).
* ``stock_level`` and ``bin_level`` are running sums of the movements, kept in the same
  transaction; :func:`rebuild_levels` recomputes them from the ledger alone.
* Nothing goes negative (on hand, reserved, available = on hand − reserved, a bin) unless
  the caller passes an explicit override, which is stored on the movement with its reason.
* Reservations lock the ``stock_level`` rows they touch (``SELECT … FOR UPDATE`` in key
  order; SQLite's write lock is database-wide), so of two orders racing for the last unit
  exactly one wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final, Literal

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.db import ids
from cloud.db.bulk import insert_rows
from cloud.db.engine import dialect_of
from cloud.db.models import (
    Bin,
    BinLevel,
    PurchaseOrder,
    PurchaseOrderLine,
    Sku,
    StockLevel,
    StockMovement,
    StockSalesDay,
    Warehouse,
)
from cloud.errors import (
    N_,
    ConflictError,
    InvalidError,
    NotFoundError,
    Said,
    Sentence,
    sentence,
    written,
)
from cloud.nodes import downlink
from cloud.stock.warehouses import ZONE_BUCKET

Kind = Literal[
    "receipt", "reservation", "release", "pick", "ship", "adjust", "transfer", "return", "reversal"
]
Bucket = Literal["sellable", "damaged", "qc", "hold"]
BUCKET_COLUMN: Final = {"sellable": "on_hand", "damaged": "damaged", "qc": "qc", "hold": "hold"}
#: The stock level's columns as a refusal names them.
BUCKET_WORDS: Final = {
    "on_hand": N_("stock on hand"),
    "reserved": N_("reserved stock"),
    "damaged": N_("damaged stock"),
    "qc": N_("stock in quality control"),
    "hold": N_("stock on hold"),
}
#: Kinds a person may reverse directly (orders reverse reservations and ships themselves).
REVERSIBLE: Final = {"receipt", "adjust", "transfer", "return", "ship"}
#: A receipt's units that failed quality control (a purchase order's, a transfer's): the
#: reason is this sentence, and a cancelled receipt (取消入库) tells its rejected units by
#: the message id (migration 0051 gave the rows from before it).
QC_FAIL: Final = N_("QC fail: %(reason)s")
#: The reasons :func:`receive` and :func:`transfer` give when the caller names none (the
#: API's defaults, cloud/api/schemas.py): the hub's words, said in the page's language.
DEFAULT_REASONS: Final = {"receipt": N_("receipt"), "transfer": N_("transfer")}


def qc_fail(reason: str | None) -> Said:
    """A QC fail's reason: what the checker wrote (required by the receipts), inside the
    hub's sentence."""
    return sentence(QC_FAIL, reason=reason or "")


def _default(reason: str | Said) -> str | Said:
    if isinstance(reason, str) and reason in DEFAULT_REASONS:
        return sentence(DEFAULT_REASONS[reason])
    return reason


#: Keys per locking SELECT: PostgreSQL parses a row-value IN list recursively, and 10,000
#: (warehouse, SKU) pairs in one statement exceeded its max_stack_depth (2 MB by default).
#: The keys are sorted and the chunks taken in order, so locks are still taken in one order.
_LOCK_CHUNK = 1000


def _chunks(keys: list[Any]) -> Iterator[list[Any]]:
    for at in range(0, len(keys), _LOCK_CHUNK):
        yield keys[at : at + _LOCK_CHUNK]


@dataclass
class Move:
    warehouse_id: int
    sku_code: str
    kind: Kind
    #: Why: a sentence the hub wrote (:func:`cloud.errors.sentence`: its message id and
    #: parameters are kept beside its English, so the pages say it in their language;
    #: migration 0051), or a person's words as typed (``str``).
    reason: str | Said
    document: str
    actor: str
    qty_delta: int = 0
    reserved_delta: int = 0
    bucket: Bucket = "sellable"
    bin_code: str | None = None
    bin_delta: int = 0
    reverses_id: str | None = None
    #: The kind of the movement this one reverses (a reversed ship takes back a sale).
    reverses_kind: str | None = None
    event_key: str | None = None
    id: str = field(default_factory=ids.uuid4)

    @property
    def sold(self) -> int:
        """Net units this movement ships to buyers (``stock_sales_day``)."""
        return -self.qty_delta if "ship" in (self.kind, self.reverses_kind) else 0


class Ledger:
    """Stages movements against locked levels, then writes them all at once.

    ``check`` answers why a set of movements cannot be applied (or None); ``stage``
    applies them in memory; ``flush`` inserts the movements and updates the levels.

    Staged sums live in plain dicts and reach the ORM rows once, at ``flush``: an order
    batch stages thousands of times against a handful of rows, and each instrumented
    attribute write costs more than the arithmetic.
    """

    def __init__(self, session: Session, account_id: int, now: datetime) -> None:
        self.session = session
        self.account_id = account_id
        self.now = now
        self.levels: dict[tuple[int, str], StockLevel] = {}
        self.bins: dict[tuple[int, str, str], BinLevel] = {}
        self.rows: list[dict[str, Any]] = []
        #: Current sums (as staged) per level and bin; ``dirty``: changed since the last flush.
        self.values: dict[tuple[int, str], dict[str, int]] = {}
        self.bin_values: dict[tuple[int, str, str], int] = {}
        self.dirty: set[tuple[int, str]] = set()
        self.dirty_bins: set[tuple[int, str, str]] = set()
        #: Units sold today per (warehouse, SKU), added to ``stock_sales_day`` at ``flush``.
        self.sold: dict[tuple[int, str], int] = {}
        #: The last reason put into words, and its words (see ``stage``).
        self._said: tuple[object, dict[str, Any]] = (object(), {})

    def lock(self, moves: Iterable[Move]) -> None:
        moves = list(moves)
        keys = sorted({(m.warehouse_id, m.sku_code) for m in moves} - set(self.levels))
        bkeys = sorted(
            {(m.warehouse_id, m.bin_code, m.sku_code) for m in moves if m.bin_code} - set(self.bins)
        )
        dialect = self.session.get_bind().dialect.name
        ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
        if keys:
            self.session.execute(
                ins(StockLevel).on_conflict_do_nothing(),
                [
                    {
                        "account_id": self.account_id,
                        "warehouse_id": w,
                        "sku_code": s,
                        "on_hand": 0,
                        "reserved": 0,
                        "damaged": 0,
                        "qc": 0,
                        "hold": 0,
                    }
                    for w, s in keys
                ],
            )
            rows = (
                r
                for chunk in _chunks(keys)
                for r in self.session.execute(
                    select(StockLevel)
                    .where(tuple_(StockLevel.warehouse_id, StockLevel.sku_code).in_(chunk))
                    .order_by(StockLevel.warehouse_id, StockLevel.sku_code)
                    .with_for_update()
                ).scalars()
            )
            for r in rows:
                key = (r.warehouse_id, r.sku_code)
                self.levels[key] = r
                self.values[key] = {
                    "on_hand": r.on_hand,
                    "reserved": r.reserved,
                    "damaged": r.damaged,
                    "qc": r.qc,
                    "hold": r.hold,
                }
        if bkeys:
            self.session.execute(
                ins(BinLevel).on_conflict_do_nothing(),
                [{"warehouse_id": w, "bin_code": b, "sku_code": s, "qty": 0} for w, b, s in bkeys],
            )
            brows = (
                b
                for chunk in _chunks(bkeys)
                for b in self.session.execute(
                    select(BinLevel)
                    .where(
                        tuple_(BinLevel.warehouse_id, BinLevel.bin_code, BinLevel.sku_code).in_(
                            chunk
                        )
                    )
                    .order_by(BinLevel.warehouse_id, BinLevel.bin_code, BinLevel.sku_code)
                    .with_for_update()
                ).scalars()
            )
            for b in brows:
                bkey = (b.warehouse_id, b.bin_code, b.sku_code)
                self.bins[bkey] = b
                self.bin_values[bkey] = b.qty

    def _after(
        self, moves: list[Move]
    ) -> tuple[dict[tuple[int, str], dict[str, int]], dict[tuple[int, str, str], int]]:
        lv: dict[tuple[int, str], dict[str, int]] = {}
        bn: dict[tuple[int, str, str], int] = {}
        for m in moves:
            key = (m.warehouse_id, m.sku_code)
            if key not in lv:
                lv[key] = dict(self.values[key])
            lv[key][BUCKET_COLUMN[m.bucket]] += m.qty_delta
            lv[key]["reserved"] += m.reserved_delta
            if m.bin_code:
                bkey = (m.warehouse_id, m.bin_code, m.sku_code)
                bn[bkey] = bn.get(bkey, self.bin_values[bkey]) + m.bin_delta
        return lv, bn

    def check(self, moves: list[Move]) -> Sentence | None:
        """Why these movements would make stock negative, or None: a sentence of its own
        (cloud/errors.py), so a refusal or a task that carries it says it in the page's
        language too (str() is the English)."""
        lv, bn = self._after(moves)
        for (wh, sku), v in lv.items():
            for col in ("on_hand", "reserved", "damaged", "qc", "hold"):
                if v[col] < 0:
                    return Sentence(
                        N_("%(bucket)s of %(sku)s in warehouse %(warehouse)s would be %(qty)s"),
                        bucket=Sentence(BUCKET_WORDS[col]),
                        sku=sku,
                        warehouse=self._code(wh),
                        qty=v[col],
                    )
            if v["on_hand"] - v["reserved"] < 0:
                r = self.values[(wh, sku)]
                return Sentence(
                    N_(
                        "not enough %(sku)s in warehouse %(warehouse)s: available"
                        " %(available)s, needed %(needed)s"
                    ),
                    sku=sku,
                    warehouse=self._code(wh),
                    available=r["on_hand"] - r["reserved"],
                    needed=v["reserved"] - r["reserved"] + r["on_hand"] - v["on_hand"],
                )
        for (wh, b, sku), q in bn.items():
            if q < 0:
                return Sentence(
                    N_("bin %(bin)s in warehouse %(warehouse)s would hold %(qty)s of %(sku)s"),
                    bin=b,
                    warehouse=self._code(wh),
                    qty=q,
                    sku=sku,
                )
        return None

    def _code(self, warehouse_id: int) -> str:
        """A warehouse's code, as people name it (read only when a check fails)."""
        wh = self.session.get(Warehouse, warehouse_id)
        return wh.code if wh is not None else f"#{warehouse_id}"

    def stage(self, moves: list[Move], override: bool = False) -> None:
        lv, bn = self._after(moves)
        self.values.update(lv)
        self.dirty.update(lv)
        self.bin_values.update(bn)
        self.dirty_bins.update(bn)
        for m in moves:
            if m.reason is not self._said[0]:
                # The same sentence object for many moves (every reservation of an order
                # arrival: cloud/orders/arrival.py) is put into words once.
                self._said = (m.reason, written(m.reason, 300))
            if m.sold:
                key = (m.warehouse_id, m.sku_code)
                self.sold[key] = self.sold.get(key, 0) + m.sold
            self.rows.append(
                {
                    "id": m.id,
                    "account_id": self.account_id,
                    "warehouse_id": m.warehouse_id,
                    "sku_code": m.sku_code,
                    "kind": m.kind,
                    "bucket": m.bucket,
                    "qty_delta": m.qty_delta,
                    "reserved_delta": m.reserved_delta,
                    "bin_code": m.bin_code,
                    "bin_delta": m.bin_delta,
                    **self._said[1],
                    "document": m.document,
                    "actor": m.actor,
                    "created_at": self.now,
                    "reverses_id": m.reverses_id,
                    "event_key": m.event_key,
                    "override": override,
                }
            )

    def flush(self) -> None:
        for key in sorted(self.dirty):
            r, v = self.levels[key], self.values[key]
            r.on_hand, r.reserved, r.damaged, r.qc, r.hold = (
                v["on_hand"],
                v["reserved"],
                v["damaged"],
                v["qc"],
                v["hold"],
            )
        for bkey in sorted(self.dirty_bins):
            self.bins[bkey].qty = self.bin_values[bkey]
        self.dirty.clear()
        self.dirty_bins.clear()
        if self.rows:
            insert_rows(self.session, StockMovement, self.rows)
            self.rows = []
        if self.sold:
            self._add_sales()
        self.session.flush()

    def _add_sales(self) -> None:
        """Add the staged sales to today's ``stock_sales_day`` rows (in key order: two
        transactions selling the same SKUs lock the rows in the same order)."""
        day = utc_day(self.now)
        ins = (postgresql.insert if dialect_of(self.session) == "postgresql" else sqlite.insert)(
            StockSalesDay
        )
        self.session.execute(
            ins.on_conflict_do_update(
                index_elements=["account_id", "sku_code", "warehouse_id", "day"],
                set_={"units": StockSalesDay.units + ins.excluded.units},
            ),
            [
                {
                    "account_id": self.account_id,
                    "sku_code": s,
                    "warehouse_id": w,
                    "day": day,
                    "units": n,
                }
                for (w, s), n in sorted(self.sold.items(), key=lambda kv: (kv[0][1], kv[0][0]))
            ],
        )
        self.sold.clear()


def utc_day(at: datetime) -> date:
    """The UTC day of a timestamp (a naive one is taken as UTC, as the database stores it)."""
    return (at.astimezone(UTC) if at.tzinfo is not None else at).date()


def post(
    session: Session,
    account_id: int,
    moves: list[Move],
    now: datetime,
    *,
    override: bool = False,
) -> list[str]:
    """Apply movements atomically; 409 if stock would go negative and no override is given."""
    if not moves:
        return []
    ledger = Ledger(session, account_id, now)
    ledger.lock(moves)
    why = ledger.check(moves)
    if why is not None and not override:
        raise ConflictError(
            N_("stock would go negative: %(why)s (an override needs stock:override and a reason)"),
            why=why,
        )
    _commit(session, account_id, ledger, moves, now, why)
    return [m.id for m in moves]


def _commit(
    session: Session,
    account_id: int,
    ledger: Ledger,
    moves: list[Move],
    now: datetime,
    why: Sentence | None,
) -> None:
    ledger.stage(moves, override=why is not None)
    ledger.flush()
    touched = {(m.warehouse_id, m.bin_code) for m in moves if m.bin_code}
    if touched:
        downlink.push_bin_stock(session, account_id, touched, now)


def post_as_happened(
    session: Session, account_id: int, moves: list[Move], now: datetime
) -> Sentence | None:
    """Book what physically happened at a node (a pick, a transfer's shipment): the goods
    left, so stock the book thinks too small never refuses it. Returns why the booking needed
    the logged override (the movements carry it), or None; the caller opens the
    ``stock_variance`` task for a person (:func:`cloud.tasks.open_override_task`), since the
    ledger does not open tasks (cloud.stock and cloud.tasks are one layer, neither imports
    the other)."""
    if not moves:
        return None
    ledger = Ledger(session, account_id, now)
    ledger.lock(moves)
    why = ledger.check(moves)
    _commit(session, account_id, ledger, moves, now, why)
    return why


def warehouse_of(session: Session, account_id: int, code: str) -> Warehouse:
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == code)
    ).scalar_one_or_none()
    if wh is None:
        raise NotFoundError(N_("no warehouse %(code)r"), code=code)
    return wh


def require_skus(session: Session, account_id: int, codes: Iterable[str]) -> dict[str, Sku]:
    want = set(codes)
    found = {
        s.sku_code: s
        for s in session.execute(
            select(Sku).where(Sku.account_id == account_id, Sku.sku_code.in_(want))
        ).scalars()
    }
    missing = sorted(want - set(found))
    if missing:
        raise InvalidError(N_("unknown SKU(s): %(skus)s"), "sku_code", skus=", ".join(missing))
    return found


# --- receipts, transfers, adjustments -----------------------------


def receive(
    session: Session,
    account_id: int,
    warehouse: str,
    sku_code: str,
    qty: int,
    actor: str,
    now: datetime,
    *,
    bin_code: str | None = None,
    reason: str | Said = "receipt",
) -> str:
    """Goods in (入库) without a purchase order (receipts against one: cloud/inbound/).
    Into a QC/hold/damaged bin they land in that bucket, not sellable."""
    wh = warehouse_of(session, account_id, warehouse)
    require_skus(session, account_id, [sku_code])
    bucket = receipt_bucket(session, wh, bin_code)
    document = f"receipt:{uuid.uuid4().hex[:12]}"
    move = Move(
        wh.id,
        sku_code,
        "receipt",
        _default(reason),
        document,
        actor,
        qty_delta=qty,
        bucket=bucket,
        bin_code=bin_code,
        bin_delta=qty if bin_code else 0,
    )
    return post(session, account_id, [move], now)[0]


def receipt_bucket(
    session: Session, wh: Warehouse, bin_code: str | None, *, failed: bool = False
) -> Bucket:
    """Where received goods land: a QC fail in the damaged bucket; else the bin's zone
    decides (a QC, hold or damaged bin), else sellable (damaged in a damaged warehouse)."""
    if failed:
        return "damaged"
    bucket: Bucket = "damaged" if wh.kind == "damaged" else "sellable"
    if bin_code is not None:
        b = session.get(Bin, (wh.id, bin_code))
        if b is None:
            raise InvalidError(
                N_("no bin %(bin)r in %(warehouse)s"), "bin", bin=bin_code, warehouse=wh.code
            )
        bucket = ZONE_BUCKET.get(b.zone, bucket)  # type: ignore[assignment]
    return bucket


def _po_unreceive(session: Session, account_id: int, m: StockMovement) -> None:
    """A PO receipt (document ``po:NUMBER``) is cancelled: its line expects the units again.

    The one place stock touches purchase-order rows (stock sits below cloud/inbound and
    cannot call it); the states are those of cloud/inbound/orders.py: a received or
    partially received PO reopens, a closed or cancelled one only has its count corrected."""
    row = session.execute(
        select(PurchaseOrderLine, PurchaseOrder)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.po_id)
        .where(
            PurchaseOrder.account_id == account_id,
            PurchaseOrder.number == m.document[3:],
            PurchaseOrderLine.sku_code == m.sku_code,
        )
        .with_for_update()
    ).first()
    if row is None:
        return
    line, po = row
    line.received -= m.qty_delta
    if m.message == QC_FAIL:
        line.rejected = max(0, line.rejected - m.qty_delta)
    if po.status in ("received", "partially_received"):
        lines = session.execute(
            select(PurchaseOrderLine).where(PurchaseOrderLine.po_id == po.id)
        ).scalars()
        ls = list(lines)
        po.status = "partially_received" if any(x.received for x in ls) else "confirmed"
        for x in ls:
            x.in_transit = x.qty > x.received


def transfer(
    session: Session,
    account_id: int,
    from_wh: str,
    to_wh: str,
    sku_code: str,
    qty: int,
    actor: str,
    now: datetime,
    *,
    from_bin: str | None = None,
    to_bin: str | None = None,
    reason: str | Said = "transfer",
) -> tuple[str, str]:
    """Transfer (调拨): an outbound movement at the source and an inbound at the receiver.

    Either side is reversed on its own (冲销出库 the outbound, 取消入库 the inbound),
    as the manual's "transfer entered wrongly" steps describe.
    """
    a = warehouse_of(session, account_id, from_wh)
    b = warehouse_of(session, account_id, to_wh)
    if a.id == b.id and from_bin == to_bin:
        raise InvalidError(N_("source and destination are the same"), "to_warehouse")
    require_skus(session, account_id, [sku_code])
    doc = f"transfer:{uuid.uuid4().hex[:12]}"
    same = a.id == b.id
    reason = _default(reason)
    out = Move(
        a.id,
        sku_code,
        "transfer",
        reason,
        doc,
        actor,
        qty_delta=0 if same else -qty,
        bin_code=from_bin,
        bin_delta=-qty if from_bin else 0,
    )
    inn = Move(
        b.id,
        sku_code,
        "transfer",
        reason,
        doc,
        actor,
        qty_delta=0 if same else qty,
        bin_code=to_bin,
        bin_delta=qty if to_bin else 0,
    )
    post(session, account_id, [out, inn], now)
    return out.id, inn.id


def adjust(
    session: Session,
    account_id: int,
    warehouse: str,
    sku_code: str,
    delta: int,
    reason: str,
    actor: str,
    now: datetime,
    *,
    bin_code: str | None = None,
    override: bool = False,
    bucket: Bucket = "sellable",
) -> str:
    wh = warehouse_of(session, account_id, warehouse)
    require_skus(session, account_id, [sku_code])
    move = Move(
        wh.id,
        sku_code,
        "adjust",
        reason,
        f"adjust:{uuid.uuid4().hex[:12]}",
        actor,
        qty_delta=delta,
        bucket=bucket,
        bin_code=bin_code,
        bin_delta=delta if bin_code else 0,
    )
    return post(session, account_id, [move], now, override=override)[0]


def reverse_movement(
    session: Session,
    account_id: int,
    movement_id: str,
    reason: str | Said,
    actor: str,
    now: datetime,
    *,
    override: bool = False,
    allow_kinds: frozenset[str] = frozenset(REVERSIBLE),
) -> str:
    """A compensating movement (冲销出库 for outbound, 取消入库 for a receipt); once only."""
    m = session.execute(
        select(StockMovement).where(StockMovement.id == movement_id).with_for_update()
    ).scalar_one_or_none()
    if m is None or m.account_id != account_id:
        raise NotFoundError(N_("no movement %(movement)s"), movement=movement_id)
    if m.kind not in allow_kinds:
        raise ConflictError(N_("a %(kind)s movement cannot be reversed here"), kind=m.kind)
    if m.document.startswith("tr:"):
        # A transfer document's movements are reversed on the document (冲销出库, 取消入库:
        # cloud/inbound/transfer_moves.py), which keeps its in-transit count right.
        raise ConflictError(
            N_("movement %(movement)s belongs to transfer %(number)s; reverse it on the transfer"),
            movement=m.id,
            number=m.document[3:],
        )
    done = session.execute(
        select(StockMovement.id).where(StockMovement.reverses_id == m.id)
    ).scalar_one_or_none()
    if done is not None:
        raise ConflictError(
            N_("movement %(movement)s was already reversed by %(done)s"), movement=m.id, done=done
        )
    if m.kind == "receipt" and m.document.startswith("po:"):
        _po_unreceive(session, account_id, m)
    back = Move(
        m.warehouse_id,
        m.sku_code,
        "reversal",
        reason,
        m.document,
        actor,
        qty_delta=-m.qty_delta,
        reserved_delta=-m.reserved_delta,
        bucket=m.bucket,  # type: ignore[arg-type]
        bin_code=m.bin_code,
        bin_delta=-m.bin_delta,
        reverses_id=m.id,
        reverses_kind=m.kind,
    )
    return post(session, account_id, [back], now, override=override)[0]


def movements(
    session: Session,
    account_id: int,
    *,
    sku_code: str | None = None,
    warehouse_id: int | None = None,
    document: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[StockMovement]:
    q = select(StockMovement).where(StockMovement.account_id == account_id)
    if sku_code is not None:
        q = q.where(StockMovement.sku_code == sku_code)
    if warehouse_id is not None:
        q = q.where(StockMovement.warehouse_id == warehouse_id)
    if document is not None:
        q = q.where(StockMovement.document == document)
    q = q.order_by(StockMovement.created_at, StockMovement.id).limit(limit).offset(offset)
    return list(session.execute(q).scalars().all())
