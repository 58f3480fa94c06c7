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
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from cloud import downlink
from cloud.bulk import insert_rows
from cloud.db import Statements, dialect_of, in_param, in_value, one_of
from cloud.errors import ConflictError, InvalidError, NotFoundError
from cloud.models import (
    BinLevel,
    PurchaseInbound,
    Sku,
    SkuComponent,
    StockLevel,
    StockMovement,
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
    event_key: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))


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
        self.session.flush()


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


def _build_sales(dialect: str, by_warehouse: Hashable) -> Executable:
    m = StockMovement.__table__.c
    orig = StockMovement.__table__.alias("orig")
    q = (
        select(m.sku_code, m.created_at, m.qty_delta)
        .select_from(StockMovement.__table__.outerjoin(orig, orig.c.id == m.reverses_id))
        .where(
            m.account_id == bindparam("account"),
            in_param(dialect, m.sku_code, "codes"),
            m.created_at >= bindparam("since", type_=m.created_at.type),
            (m.kind == "ship") | ((m.kind == "reversal") & (orig.c.kind == "ship")),
        )
    )
    return q.where(m.warehouse_id == bindparam("wh")) if by_warehouse else q


_SALES = Statements(_build_sales)


def _sales(
    session: Session, account_id: int, codes: list[str], wh: int | None, now: datetime
) -> dict[str, dict[str, int]]:
    """Net units shipped (ship movements less their reversals) today, in 7 d and in 30 d."""
    params: dict[str, Any] = {
        "account": account_id,
        "codes": in_value(dialect_of(session), codes),
        "since": now - timedelta(days=30),
    }
    if wh is not None:
        params["wh"] = wh
    out: dict[str, dict[str, int]] = {
        c: {"sales_today": 0, "sales_7d": 0, "sales_30d": 0} for c in codes
    }
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = now - timedelta(days=7)
    for sku, at, qty in session.execute(_SALES.get(session, wh is not None), params):
        if at.tzinfo is None:
            at = at.replace(tzinfo=now.tzinfo)
        units = -int(qty)
        out[sku]["sales_30d"] += units
        if at >= week:
            out[sku]["sales_7d"] += units
        if at >= day:
            out[sku]["sales_today"] += units
    return out


def _build_levels(dialect: str, by_warehouse: Hashable) -> Executable:
    t = StockLevel.__table__.c
    q = select(t.sku_code, t.warehouse_id, t.on_hand, t.reserved, t.damaged, t.qc, t.hold).where(
        t.account_id == bindparam("account"), in_param(dialect, t.sku_code, "codes")
    )
    return q.where(t.warehouse_id == bindparam("wh")) if by_warehouse else q


_LEVELS = Statements(_build_levels)


def _levels(
    session: Session, account_id: int, codes: list[str], wh: int | None
) -> dict[str, dict[int, Any]]:
    """Per SKU and warehouse: rows with the level's buckets (plain rows: the stock views
    read thousands of them, and ORM objects cost more than the query)."""
    params: dict[str, Any] = {"account": account_id, "codes": in_value(dialect_of(session), codes)}
    if wh is not None:
        params["wh"] = wh
    out: dict[str, dict[int, Any]] = {}
    for r in session.execute(_LEVELS.get(session, wh is not None), params):
        out.setdefault(r.sku_code, {})[r.warehouse_id] = r
    return out


def _build_inbound(dialect: str, by_warehouse: Hashable) -> Executable:
    t = PurchaseInbound.__table__.c
    q = select(t.sku_code, t.po_number, t.qty, t.received, t.eta, t.supplier, t.warehouse_id).where(
        t.account_id == bindparam("account"),
        in_param(dialect, t.sku_code, "codes"),
        t.qty > t.received,
    )
    if by_warehouse:
        q = q.where(t.warehouse_id == bindparam("wh"))
    return q.order_by(t.eta, t.id)


_INBOUND = Statements(_build_inbound)


def _inbound(
    session: Session, account_id: int, codes: list[str], wh: int | None
) -> dict[str, list[dict[str, Any]]]:
    params: dict[str, Any] = {"account": account_id, "codes": in_value(dialect_of(session), codes)}
    if wh is not None:
        params["wh"] = wh
    out: dict[str, list[dict[str, Any]]] = {}
    for p in session.execute(_INBOUND.get(session, wh is not None), params):
        out.setdefault(p.sku_code, []).append(
            {
                "po_number": p.po_number,
                "open": p.qty - p.received,
                "eta": p.eta,
                "supplier": p.supplier,
                "warehouse_id": p.warehouse_id,
            }
        )
    return out


_COMPONENTS = Statements(
    lambda dialect, _: select(
        SkuComponent.__table__.c.sku_code,
        SkuComponent.__table__.c.component_code,
        SkuComponent.__table__.c.qty,
    ).where(
        SkuComponent.__table__.c.account_id == bindparam("account"),
        in_param(dialect, SkuComponent.__table__.c.sku_code, "codes"),
    )
)


def _channel(
    session: Session,
    account_id: int,
    skus: Sequence[Any],
    avail: dict[str, int],
    inbound: dict[str, int],
) -> dict[str, int]:
    """同步库存: available + in transit; bundles are limited by their scarcest component;
    own-brand goods add what their semi-finished parts (stock + in transit) can still make."""
    comps: dict[str, list[tuple[str, int]]] = {}
    for code, part, qty in session.execute(
        _COMPONENTS.get(session),
        {
            "account": account_id,
            "codes": in_value(dialect_of(session), [s.sku_code for s in skus]),
        },
    ):
        comps.setdefault(code, []).append((part, qty))
    need = sorted({c for parts in comps.values() for c, _ in parts} - set(avail))
    if need:
        # Parts count across every warehouse (the manual's 半成品仓库 is a warehouse of its own).
        for code, lv in _levels(session, account_id, need, None).items():
            avail[code] = sum(r.on_hand - r.reserved for r in lv.values())
        for code, pos in _inbound(session, account_id, need, None).items():
            inbound[code] = sum(p["open"] for p in pos)
    out = {}
    for s in skus:
        own = avail.get(s.sku_code, 0) + inbound.get(s.sku_code, 0)
        parts = comps.get(s.sku_code, [])
        makeable = min((avail.get(c, 0) + inbound.get(c, 0)) // q for c, q in parts) if parts else 0
        if s.kind == "bundle":
            out[s.sku_code] = max(0, makeable)
        elif s.own_brand:
            out[s.sku_code] = own + max(0, makeable)
        else:
            out[s.sku_code] = own
    return out


_WAREHOUSES = Statements(
    lambda _d, _v: select(Warehouse.id, Warehouse.code, Warehouse.kind).where(
        Warehouse.account_id == bindparam("account")
    )
)


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
    from cloud.catalogue import sku_page

    bad = [c for c in columns if c not in COLUMNS]
    if bad:
        raise InvalidError(
            f"unknown column(s) {', '.join(bad)}; choose from {', '.join(COLUMNS)}", "columns"
        )
    whs = {w.id: w for w in session.execute(_WAREHOUSES.get(session), {"account": account_id})}
    wh = None
    if warehouse is not None:
        wh = next((w.id for w in whs.values() if w.code == warehouse), None)
        if wh is None:
            raise NotFoundError(f"no warehouse {warehouse!r}")
    skus = sku_page(
        session, account_id, query, limit, offset, ("sku_code", "name", "kind", "own_brand")
    )
    codes = [s.sku_code for s in skus]
    levels = _levels(session, account_id, codes, wh)
    pos = _inbound(session, account_id, codes, wh)
    sales = (
        _sales(session, account_id, codes, wh, now)
        if any(c.startswith("sales") for c in columns)
        else {}
    )
    avail: dict[str, int] = {}
    inbound: dict[str, int] = {}
    totals: dict[str, dict[str, int]] = {}
    for code in codes:
        t = {"on_hand": 0, "reserved": 0, "damaged": 0, "qc": 0, "hold": 0}
        for wid, r in levels.get(code, {}).items():
            damaged_wh = whs[wid].kind == "damaged"
            t["on_hand"] += 0 if damaged_wh else r.on_hand
            t["reserved"] += r.reserved
            t["damaged"] += r.damaged + (r.on_hand if damaged_wh else 0)
            t["qc"] += r.qc
            t["hold"] += r.hold
        totals[code] = t
        avail[code] = t["on_hand"] - t["reserved"]
        inbound[code] = sum(p["open"] for p in pos.get(code, []))
    channel = (
        _channel(session, account_id, skus, dict(avail), dict(inbound))
        if "channel_stock" in columns
        else {}
    )
    bins: dict[str, list[dict[str, Any]]] = {}
    if "bins" in columns and wh is not None:
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
    for s in skus:
        t = totals[s.sku_code]
        values: dict[str, Any] = {
            "name": s.name,
            **t,
            "available": avail[s.sku_code],
            "inbound": inbound[s.sku_code],
            **sales.get(s.sku_code, {}),
            "channel_stock": channel.get(s.sku_code),
            "purchases": [
                {**p, "warehouse": whs[p.pop("warehouse_id")].code} for p in pos.get(s.sku_code, [])
            ],
            "bins": bins.get(s.sku_code, []),
        }
        row: dict[str, Any] = {"sku_code": s.sku_code, **{c: values[c] for c in columns}}
        if warehouse is None:
            row["warehouses"] = {
                whs[wid].code: {
                    "on_hand": r.on_hand,
                    "reserved": r.reserved,
                    "available": r.on_hand - r.reserved,
                    "damaged": r.damaged,
                    "qc": r.qc,
                    "hold": r.hold,
                }
                for wid, r in sorted(levels.get(s.sku_code, {}).items())
            }
        out.append(row)
    return out
