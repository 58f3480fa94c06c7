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
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal, cast

from sqlalchemy import BindParameter, Date, and_, bindparam, case, func, or_, select, true, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from cloud import downlink
from cloud.bulk import insert_rows
from cloud.db import Statements, dialect_of, one_of
from cloud.errors import ConflictError, InvalidError, NotFoundError
from cloud.models import (
    BinLevel,
    PurchaseInbound,
    Sku,
    SkuComponent,
    StockLevel,
    StockMovement,
    StockSalesDay,
    Warehouse,
)

Kind = Literal[
    "receipt", "reservation", "release", "pick", "ship", "adjust", "transfer", "return", "reversal"
]
Bucket = Literal["sellable", "damaged", "qc", "hold"]
BUCKET_COLUMN: Final = {"sellable": "on_hand", "damaged": "damaged", "qc": "qc", "hold": "hold"}
#: Kinds a person may reverse directly (orders reverse reservations and ships themselves).
REVERSIBLE: Final = {"receipt", "adjust", "transfer", "return", "ship"}


@dataclass
class Move:
    warehouse_id: int
    sku_code: str
    kind: Kind
    reason: str
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
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

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

    def lock(self, moves: Iterable[Move]) -> None:
        moves = list(moves)
        keys = sorted({(m.warehouse_id, m.sku_code) for m in moves} - set(self.levels))
        bkeys = sorted(
            {(m.warehouse_id, m.bin_code, m.sku_code) for m in moves if m.bin_code} - set(self.bins)  # type: ignore[arg-type]
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
            rows = self.session.execute(
                select(StockLevel)
                .where(tuple_(StockLevel.warehouse_id, StockLevel.sku_code).in_(keys))
                .order_by(StockLevel.warehouse_id, StockLevel.sku_code)
                .with_for_update()
            ).scalars()
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
            brows = self.session.execute(
                select(BinLevel)
                .where(
                    tuple_(BinLevel.warehouse_id, BinLevel.bin_code, BinLevel.sku_code).in_(bkeys)
                )
                .order_by(BinLevel.warehouse_id, BinLevel.bin_code, BinLevel.sku_code)
                .with_for_update()
            ).scalars()
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

    def check(self, moves: list[Move]) -> str | None:
        """Why these movements would make stock negative, or None."""
        lv, bn = self._after(moves)
        for (wh, sku), v in lv.items():
            for col in ("on_hand", "reserved", "damaged", "qc", "hold"):
                if v[col] < 0:
                    return f"{col} of {sku} in warehouse #{wh} would be {v[col]}"
            if v["on_hand"] - v["reserved"] < 0:
                r = self.values[(wh, sku)]
                return (
                    f"not enough {sku} in warehouse #{wh}: available {r['on_hand'] - r['reserved']},"
                    f" needed {v['reserved'] - r['reserved'] + r['on_hand'] - v['on_hand']}"
                )
        for (wh, b, sku), q in bn.items():
            if q < 0:
                return f"bin {b} in warehouse #{wh} would hold {q} of {sku}"
        return None

    def stage(self, moves: list[Move], override: bool = False) -> None:
        lv, bn = self._after(moves)
        self.values.update(lv)
        self.dirty.update(lv)
        self.bin_values.update(bn)
        self.dirty_bins.update(bn)
        for m in moves:
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
                    "reason": m.reason[:300],
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
            f"stock would go negative: {why} (an override needs stock:override and a reason)"
        )
    ledger.stage(moves, override=why is not None)
    ledger.flush()
    touched = {(m.warehouse_id, m.bin_code) for m in moves if m.bin_code}
    if touched:
        downlink.push_bin_stock(session, account_id, touched, now)
    return [m.id for m in moves]


def warehouse_of(session: Session, account_id: int, code: str) -> Warehouse:
    wh = session.execute(
        select(Warehouse).where(Warehouse.account_id == account_id, Warehouse.code == code)
    ).scalar_one_or_none()
    if wh is None:
        raise NotFoundError(f"no warehouse {code!r}")
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
        raise InvalidError(f"unknown SKU(s): {', '.join(missing)}", "sku_code")
    return found


# --- receipts, purchases in transit, transfers, adjustments -----------------------------


def add_inbound(
    session: Session,
    account_id: int,
    warehouse: str,
    po_number: str,
    lines: list[tuple[str, int]],
    eta: date | None,
    supplier: str | None,
    actor: str,
    now: datetime,
) -> list[PurchaseInbound]:
    wh = warehouse_of(session, account_id, warehouse)
    require_skus(session, account_id, (s for s, _ in lines))
    rows = [
        PurchaseInbound(
            account_id=account_id,
            warehouse_id=wh.id,
            po_number=po_number,
            sku_code=s,
            qty=q,
            received=0,
            eta=eta,
            supplier=supplier,
            changed_by=actor,
            changed_at=now,
        )
        for s, q in lines
    ]
    session.add_all(rows)
    session.flush()
    return rows


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
    po_number: str | None = None,
    reason: str = "receipt",
) -> str:
    """Goods in (入库). Into a QC/hold/damaged bin they land in that bucket, not sellable."""
    from cloud.models import Bin
    from cloud.warehouses import ZONE_BUCKET

    wh = warehouse_of(session, account_id, warehouse)
    require_skus(session, account_id, [sku_code])
    bucket: Bucket = "damaged" if wh.kind == "damaged" else "sellable"
    if bin_code is not None:
        b = session.get(Bin, (wh.id, bin_code))
        if b is None:
            raise InvalidError(f"no bin {bin_code!r} in {warehouse}", "bin")
        bucket = ZONE_BUCKET.get(b.zone, bucket)  # type: ignore[assignment]
    document = f"po:{po_number}" if po_number else f"receipt:{uuid.uuid4().hex[:12]}"
    if po_number:
        _po_receive(session, account_id, wh.id, po_number, sku_code, qty)
    move = Move(
        wh.id,
        sku_code,
        "receipt",
        reason,
        document,
        actor,
        qty_delta=qty,
        bucket=bucket,
        bin_code=bin_code,
        bin_delta=qty if bin_code else 0,
    )
    return post(session, account_id, [move], now)[0]


def _po_receive(session: Session, account_id: int, wh_id: int, po: str, sku: str, qty: int) -> None:
    """Book ``qty`` (negative to undo) against the PO's open lines for this SKU."""
    lines = (
        session.execute(
            select(PurchaseInbound)
            .where(
                PurchaseInbound.account_id == account_id,
                PurchaseInbound.warehouse_id == wh_id,
                PurchaseInbound.po_number == po,
                PurchaseInbound.sku_code == sku,
            )
            .order_by(PurchaseInbound.id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    if not lines:
        raise InvalidError(
            f"purchase order {po} has no line for {sku} in this warehouse", "po_number"
        )
    rest = qty
    for line in lines if qty > 0 else reversed(lines):
        take = min(rest, line.qty - line.received) if qty > 0 else max(rest, -line.received)
        line.received += take
        rest -= take
        if rest == 0:
            break
    if rest > 0:  # more arrived than ordered: the surplus counts against the last line
        lines[-1].received += rest


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
    reason: str = "transfer",
) -> tuple[str, str]:
    """Transfer (调拨): an outbound movement at the source and an inbound at the receiver.

    Either side is reversed on its own (冲销出库 the outbound, 取消入库 the inbound),
    as the manual's "transfer entered wrongly" steps describe.
    """
    a = warehouse_of(session, account_id, from_wh)
    b = warehouse_of(session, account_id, to_wh)
    if a.id == b.id and from_bin == to_bin:
        raise InvalidError("source and destination are the same", "to_warehouse")
    require_skus(session, account_id, [sku_code])
    doc = f"transfer:{uuid.uuid4().hex[:12]}"
    same = a.id == b.id
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
    reason: str,
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
        raise NotFoundError(f"no movement {movement_id}")
    if m.kind not in allow_kinds:
        raise ConflictError(f"a {m.kind} movement cannot be reversed here")
    done = session.execute(
        select(StockMovement.id).where(StockMovement.reverses_id == m.id)
    ).scalar_one_or_none()
    if done is not None:
        raise ConflictError(f"movement {m.id} was already reversed by {done}")
    if m.kind == "receipt" and m.document.startswith("po:"):
        _po_receive(session, account_id, m.warehouse_id, m.document[3:], m.sku_code, -m.qty_delta)
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


# --- derived views -------------------------------------------------------------------


def rebuild_levels(session: Session, account_id: int) -> dict[tuple[int, str], dict[str, int]]:
    """The levels computed from the ledger alone (to check the running sums against)."""
    out: dict[tuple[int, str], dict[str, int]] = {}
    rows = session.execute(
        select(
            StockMovement.warehouse_id,
            StockMovement.sku_code,
            StockMovement.bucket,
            func.sum(StockMovement.qty_delta),
            func.sum(StockMovement.reserved_delta),
        )
        .where(StockMovement.account_id == account_id)
        .group_by(StockMovement.warehouse_id, StockMovement.sku_code, StockMovement.bucket)
    )
    for wh, sku, bucket, qty, res in rows:
        v = out.setdefault(
            (wh, sku), {"on_hand": 0, "reserved": 0, "damaged": 0, "qc": 0, "hold": 0}
        )
        v[BUCKET_COLUMN[bucket]] += int(qty)
        v["reserved"] += int(res)
    return out


COLUMNS: Final = (
    "name",
    "on_hand",
    "reserved",
    "available",
    "inbound",
    "damaged",
    "qc",
    "hold",
    "sales_today",
    "sales_7d",
    "sales_30d",
    "channel_stock",
    "purchases",
    "bins",
)


def rebuild_sales(session: Session, account_id: int) -> dict[tuple[int, str, date], int]:
    """``stock_sales_day`` computed from the ledger alone (to check the running sums against)."""
    m = StockMovement.__table__.c
    orig = StockMovement.__table__.alias("orig")
    out: dict[tuple[int, str, date], int] = {}
    for wh, sku, at, qty in session.execute(
        select(m.warehouse_id, m.sku_code, m.created_at, m.qty_delta)
        .select_from(StockMovement.__table__.outerjoin(orig, orig.c.id == m.reverses_id))
        .where(
            m.account_id == account_id,
            (m.kind == "ship") | ((m.kind == "reversal") & (orig.c.kind == "ship")),
        )
    ):
        key = (wh, sku, utc_day(at))
        out[key] = out.get(key, 0) - int(qty)
    return out


def _build_view(dialect: str, variant: Hashable) -> Executable:
    """The stock view in one statement: a row per SKU of the page and warehouse it has a
    level in, with the SKU's inbound, sales and what its parts can make alongside.

    Parameters: those of ``catalogue.page_select``; ``code`` (F10's warehouse); for the
    sales, ``today``, ``d7``/``d30`` (the UTC days the 7 d / 30 d windows start in) and
    ``since7``/``end7``, ``since30``/``end30`` (the part of those days in the window).
    Sales of whole days come from ``stock_sales_day``; only the first, partial day of a
    window is read from the ledger, so the windows stay exact to the microsecond.
    """
    from cloud.catalogue import page_select

    keywords, by_warehouse, with_sales, with_channel = cast(tuple[int, bool, bool, bool], variant)
    acct: BindParameter[int] = bindparam("account")
    page = page_select(dialect, ("sku_code", "name", "kind", "own_brand"), keywords).cte("page")
    codes = select(page.c.sku_code)
    w = Warehouse.__table__.alias("w")
    ws = Warehouse.__table__.alias("ws")
    # F10's warehouse as a scalar subquery: the database looks it up once and then reads
    # each table by (warehouse, SKU) through its index.
    scope = (
        select(ws.c.id)
        .where(ws.c.account_id == acct, ws.c.code == bindparam("code"))
        .scalar_subquery()
        if by_warehouse
        else None
    )

    def in_scope(col: Any) -> Any:
        return col == scope if scope is not None else true()

    lv = StockLevel.__table__.alias("lv")
    levels = lv.join(w, w.c.id == lv.c.warehouse_id)
    po = PurchaseInbound.__table__.alias("po")
    inbound = (
        select(po.c.sku_code, func.sum(po.c.qty - po.c.received).label("inbound"))
        .where(
            po.c.account_id == acct,
            po.c.sku_code.in_(codes),
            po.c.qty > po.c.received,
            in_scope(po.c.warehouse_id),
        )
        .group_by(po.c.sku_code)
        .subquery("inbound")
    )
    level: list[Any] = [
        lv.c.warehouse_id,
        w.c.code.label("warehouse"),
        w.c.kind.label("warehouse_kind"),
        lv.c.on_hand,
        lv.c.reserved,
        lv.c.damaged,
        lv.c.qc,
        lv.c.hold,
    ]
    on = and_(
        lv.c.account_id == acct, lv.c.sku_code == page.c.sku_code, in_scope(lv.c.warehouse_id)
    )
    body: Any
    if dialect == "postgresql":
        # LATERAL: each SKU of the page looks up its levels by index. As a join, PostgreSQL
        # (random_page_cost 4, its default) hashed every level of the warehouse to keep 50:
        # 2.6 ms instead of 0.5 for a page of 50 out of 5,000 SKUs.
        # (OFFSET 0 keeps the planner from flattening the LATERAL back into that join.)
        levels_of = select(*level).select_from(levels).where(on).offset(0).lateral("lvl")
        body = page.outerjoin(levels_of, true())
        level = list(levels_of.c)
    else:
        # SQLite has no LATERAL. Two plain outer joins, not one onto (levels JOIN
        # warehouses): that nested join SQLite built in full (every level of the account)
        # and scanned once per SKU of the page, 15 ms a view; this way each SKU's levels
        # come by index. (Every level has its warehouse, so the rows are the same.)
        body = page.outerjoin(lv, on).outerjoin(w, w.c.id == lv.c.warehouse_id)
    cols: list[Any] = [
        page.c.sku_code,
        page.c.name,
        page.c.kind,
        page.c.own_brand,
        *level,
        inbound.c.inbound,
    ]
    body = body.outerjoin(inbound, inbound.c.sku_code == page.c.sku_code)
    if with_sales:
        d = StockSalesDay.__table__.c
        days = (
            select(
                d.sku_code,
                func.sum(case((d.day >= bindparam("today", type_=Date), d.units), else_=0)).label(
                    "today"
                ),
                func.sum(case((d.day > bindparam("d7", type_=Date), d.units), else_=0)).label("d7"),
                func.sum(d.units).label("d30"),
            )
            .where(
                d.account_id == acct,
                d.sku_code.in_(codes),
                d.day > bindparam("d30", type_=Date),
                in_scope(d.warehouse_id),
            )
            .group_by(d.sku_code)
            .subquery("days")
        )
        m = StockMovement.__table__.alias("m")
        orig = StockMovement.__table__.alias("orig")
        at = m.c.created_at

        def within(lo: str, hi: str) -> Any:
            return and_(at >= bindparam(lo, type_=at.type), at < bindparam(hi, type_=at.type))

        first = (
            select(
                m.c.sku_code,
                func.sum(case((within("since7", "end7"), -m.c.qty_delta), else_=0)).label("d7"),
                func.sum(case((within("since30", "end30"), -m.c.qty_delta), else_=0)).label("d30"),
            )
            .select_from(m.outerjoin(orig, orig.c.id == m.c.reverses_id))
            .where(
                m.c.account_id == acct,
                (m.c.kind == "ship") | (m.c.kind == "reversal"),
                or_(within("since7", "end7"), within("since30", "end30")),
                (m.c.kind == "ship") | (orig.c.kind == "ship"),
                m.c.sku_code.in_(codes),
                in_scope(m.c.warehouse_id),
            )
            .group_by(m.c.sku_code)
            .subquery("first_day")
        )
        cols += [
            func.coalesce(days.c.today, 0).label("sales_today"),
            (func.coalesce(days.c.d7, 0) + func.coalesce(first.c.d7, 0)).label("sales_7d"),
            (func.coalesce(days.c.d30, 0) + func.coalesce(first.c.d30, 0)).label("sales_30d"),
        ]
        body = body.outerjoin(days, days.c.sku_code == page.c.sku_code).outerjoin(
            first, first.c.sku_code == page.c.sku_code
        )
    if with_channel:
        # Parts count across every warehouse (the manual's 半成品仓库 is a warehouse of its
        # own): their stock on hand less reserved, and their open purchase lines.
        comp = SkuComponent.__table__.alias("comp")
        parts = select(comp.c.component_code).where(
            comp.c.account_id == acct, comp.c.sku_code.in_(codes)
        )
        pl = StockLevel.__table__.alias("pl")
        part_stock = (
            select(pl.c.sku_code, func.sum(pl.c.on_hand - pl.c.reserved).label("n"))
            .where(pl.c.account_id == acct, pl.c.sku_code.in_(parts))
            .group_by(pl.c.sku_code)
            .subquery("part_stock")
        )
        pp = PurchaseInbound.__table__.alias("pp")
        part_inbound = (
            select(pp.c.sku_code, func.sum(pp.c.qty - pp.c.received).label("n"))
            .where(pp.c.account_id == acct, pp.c.sku_code.in_(parts), pp.c.qty > pp.c.received)
            .group_by(pp.c.sku_code)
            .subquery("part_inbound")
        )
        # Integer division truncates in SQL and floors in Python; they differ only below
        # zero, where the caller's max(0, …) makes both nothing.
        makeable = (
            select(
                comp.c.sku_code,
                func.min(
                    (func.coalesce(part_stock.c.n, 0) + func.coalesce(part_inbound.c.n, 0))
                    // comp.c.qty
                ).label("makeable"),
            )
            .select_from(
                comp.outerjoin(
                    part_stock, part_stock.c.sku_code == comp.c.component_code
                ).outerjoin(part_inbound, part_inbound.c.sku_code == comp.c.component_code)
            )
            .where(comp.c.account_id == acct, comp.c.sku_code.in_(codes))
            .group_by(comp.c.sku_code)
            .subquery("makeable")
        )
        cols.append(makeable.c.makeable)
        body = body.outerjoin(makeable, makeable.c.sku_code == page.c.sku_code)
    if scope is not None:
        # From the warehouse's one row: an unknown code (no id) is told apart from an empty page.
        one = select(scope.label("scope")).subquery("one")
        cols.append(one.c.scope)
        body = one.outerjoin(body, true())
    return select(*cols).select_from(body).order_by(page.c.sku_code, level[0])


_VIEW = Statements(_build_view)


def _sales_params(now: datetime) -> dict[str, Any]:
    """``today`` and, per window, the day it starts in and the part of that day inside it."""
    now = now.astimezone(UTC)
    out: dict[str, Any] = {"today": now.date()}
    for days in (7, 30):
        since = now - timedelta(days=days)
        out[f"d{days}"] = since.date()
        out[f"since{days}"] = since
        out[f"end{days}"] = datetime.combine(since.date() + timedelta(days=1), time(), UTC)
    return out


def _inbound(
    session: Session, account_id: int, codes: list[str], wh: int | None
) -> dict[str, list[dict[str, Any]]]:
    t = PurchaseInbound.__table__.c
    w = Warehouse.__table__.c
    q = (
        select(t.sku_code, t.po_number, t.qty, t.received, t.eta, t.supplier, w.code)
        .join_from(PurchaseInbound.__table__, Warehouse.__table__, w.id == t.warehouse_id)
        .where(t.account_id == account_id, one_of(session, t.sku_code, codes), t.qty > t.received)
        .order_by(t.eta, t.id)
    )
    if wh is not None:
        q = q.where(t.warehouse_id == wh)
    out: dict[str, list[dict[str, Any]]] = {}
    for p in session.execute(q):
        out.setdefault(p.sku_code, []).append(
            {
                "po_number": p.po_number,
                "open": p.qty - p.received,
                "eta": p.eta,
                "supplier": p.supplier,
                "warehouse": p.code,
            }
        )
    return out


def stock_view(
    session: Session,
    account_id: int,
    now: datetime,
    *,
    warehouse: str | None,
    query: str | None,
    columns: list[str],
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """F9 (``warehouse`` None: every warehouse, with a per-warehouse breakdown) or F10
    (one warehouse; the caller picks the columns, as the manual's right-click menu does)."""
    from cloud.catalogue import page_params

    bad = [c for c in columns if c not in COLUMNS]
    if bad:
        raise InvalidError(
            f"unknown column(s) {', '.join(bad)}; choose from {', '.join(COLUMNS)}", "columns"
        )
    params, keywords = page_params(account_id, query, limit, offset)
    with_sales = any(c.startswith("sales") for c in columns)
    with_channel = "channel_stock" in columns
    if warehouse is not None:
        params["code"] = warehouse
    if with_sales:
        params.update(_sales_params(now))
    rows = session.execute(
        _VIEW.get(session, (keywords, warehouse is not None, with_sales, with_channel)), params
    ).all()
    wh = None
    if warehouse is not None:
        wh = rows[0].scope
        if wh is None:
            raise NotFoundError(f"no warehouse {warehouse!r}")
    skus: dict[str, list[Any]] = {}
    for r in rows:
        if r.sku_code is not None:
            skus.setdefault(r.sku_code, []).append(r)
    codes = list(skus)
    pos = _inbound(session, account_id, codes, wh) if "purchases" in columns and codes else {}
    bins: dict[str, list[dict[str, Any]]] = {}
    if "bins" in columns and wh is not None and codes:
        for b in session.execute(
            select(BinLevel)
            .where(
                BinLevel.warehouse_id == wh,
                one_of(session, BinLevel.sku_code, codes),
                BinLevel.qty != 0,
            )
            .order_by(BinLevel.bin_code)
        ).scalars():
            bins.setdefault(b.sku_code, []).append({"bin": b.bin_code, "qty": b.qty})
    out = []
    for code, levels in skus.items():
        s = levels[0]
        t = {"on_hand": 0, "reserved": 0, "damaged": 0, "qc": 0, "hold": 0}
        here = [r for r in levels if r.warehouse_id is not None]
        for r in here:
            damaged_wh = r.warehouse_kind == "damaged"
            t["on_hand"] += 0 if damaged_wh else r.on_hand
            t["reserved"] += r.reserved
            t["damaged"] += r.damaged + (r.on_hand if damaged_wh else 0)
            t["qc"] += r.qc
            t["hold"] += r.hold
        available = t["on_hand"] - t["reserved"]
        inbound = int(s.inbound or 0)
        values: dict[str, Any] = {
            "name": s.name,
            **t,
            "available": available,
            "inbound": inbound,
            "purchases": pos.get(code, []),
            "bins": bins.get(code, []),
        }
        if with_sales:
            values.update(
                sales_today=int(s.sales_today),
                sales_7d=int(s.sales_7d),
                sales_30d=int(s.sales_30d),
            )
        if with_channel:
            # 同步库存: available + in transit; a bundle is limited by its scarcest component;
            # own-brand goods add what their semi-finished parts can still make.
            makeable = max(0, int(s.makeable or 0))
            own = available + inbound
            values["channel_stock"] = (
                makeable if s.kind == "bundle" else own + makeable if s.own_brand else own
            )
        row: dict[str, Any] = {"sku_code": code, **{c: values[c] for c in columns}}
        if warehouse is None:
            row["warehouses"] = {
                r.warehouse: {
                    "on_hand": r.on_hand,
                    "reserved": r.reserved,
                    "available": r.on_hand - r.reserved,
                    "damaged": r.damaged,
                    "qc": r.qc,
                    "hold": r.hold,
                }
                for r in here
            }
        out.append(row)
    return out
