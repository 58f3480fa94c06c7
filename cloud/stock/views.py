"""Derived stock views: the levels rebuilt from the ledger, and the F9/F10 stock views
(available, in transit, sales over days) read in one statement."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, cast

from sqlalchemy import BindParameter, Date, and_, bindparam, case, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from cloud.catalogue.skus import page_params, page_select
from cloud.db.engine import Statements, dialect_of, generic_plans, in_param, in_value
from cloud.db.models import (
    BinLevel,
    PurchaseOrder,
    PurchaseOrderLine,
    SkuComponent,
    StockLevel,
    StockMovement,
    StockSalesDay,
    Supplier,
    Warehouse,
)
from cloud.db.transfers import TransferLine
from cloud.errors import N_, InvalidError, NotFoundError
from cloud.stock.ledger import BUCKET_COLUMN, utc_day

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
    # In transit (采购在途): the open lines of confirmed and partially received purchase
    # orders (cloud/inbound/; docs/inbound.md).
    po = PurchaseOrderLine.__table__.alias("po")
    # … and the units of shipped transfers not yet received, at the receiving warehouse
    # (cloud/inbound/transfers.py): in transit, counted here and nowhere else.
    tl = TransferLine.__table__.alias("tl")
    arriving = (
        select(po.c.sku_code, (po.c.qty - po.c.received).label("n"))
        .where(
            po.c.account_id == acct,
            po.c.sku_code.in_(codes),
            po.c.in_transit,
            po.c.qty > po.c.received,
            in_scope(po.c.warehouse_id),
        )
        .union_all(
            select(tl.c.sku_code, (tl.c.shipped - tl.c.received).label("n")).where(
                tl.c.account_id == acct,
                tl.c.sku_code.in_(codes),
                tl.c.shipped > tl.c.received,
                in_scope(tl.c.warehouse_id),
            )
        )
        .subquery("arriving")
    )
    inbound = (
        select(arriving.c.sku_code, func.sum(arriving.c.n).label("inbound"))
        .group_by(arriving.c.sku_code)
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
        pp = PurchaseOrderLine.__table__.alias("pp")
        part_inbound = (
            select(pp.c.sku_code, func.sum(pp.c.qty - pp.c.received).label("n"))
            .where(
                pp.c.account_id == acct,
                pp.c.sku_code.in_(parts),
                pp.c.in_transit,
                pp.c.qty > pp.c.received,
            )
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


def _build_inbound(dialect: str, variant: Hashable) -> Executable:
    """The open purchase lines of the page's SKUs (``codes``), of one warehouse (``wh``) if
    ``variant`` says so. Built once: built on every F9 call it was 40 % of the view's own
    Python (SQLAlchemy's construction and cache key; issue 20, S35)."""
    t = PurchaseOrderLine.__table__.c
    p = PurchaseOrder.__table__.c
    w = Warehouse.__table__.c
    s = Supplier.__table__.c
    q = (
        select(t.sku_code, p.number, t.qty, t.received, p.eta, s.name, w.code)
        .select_from(
            PurchaseOrderLine.__table__.join(PurchaseOrder.__table__, p.id == t.po_id)
            .join(Warehouse.__table__, w.id == t.warehouse_id)
            .outerjoin(Supplier.__table__, s.id == p.supplier_id)
        )
        .where(
            t.account_id == bindparam("account"),
            in_param(dialect, t.sku_code, "codes"),
            t.in_transit,
            t.qty > t.received,
        )
        .order_by(p.eta, t.id)
    )
    if variant:
        q = q.where(t.warehouse_id == bindparam("wh"))
    return q


_INBOUND = Statements(_build_inbound)


def _build_bins(dialect: str, _variant: Hashable) -> Executable:
    """The page's SKUs' (``codes``) bins holding stock in a warehouse (``wh``), by bin."""
    b = BinLevel.__table__.c
    return (
        select(b.sku_code, b.bin_code, b.qty)
        .where(
            b.warehouse_id == bindparam("wh"), in_param(dialect, b.sku_code, "codes"), b.qty != 0
        )
        .order_by(b.bin_code)
    )


_BINS = Statements(_build_bins)


def _inbound(
    session: Session, account_id: int, codes: list[str], wh: int | None
) -> dict[str, list[dict[str, Any]]]:
    params = {"account": account_id, "codes": in_value(dialect_of(session), codes), "wh": wh}
    out: dict[str, list[dict[str, Any]]] = {}
    for sku_code, number, qty, received, eta, supplier, code in session.execute(
        _INBOUND.get(session, wh is not None), params
    ):
        out.setdefault(sku_code, []).append(
            {
                "po_number": number,
                "open": qty - received,
                "eta": eta,
                "supplier": supplier,
                "warehouse": code,
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
    bad = [c for c in columns if c not in COLUMNS]
    if bad:
        raise InvalidError(
            N_("unknown column(s) %(bad)s; choose from %(columns)s"),
            "columns",
            bad=", ".join(bad),
            columns=", ".join(COLUMNS),
        )
    params, keywords = page_params(account_id, query, limit, offset)
    with_sales = any(c.startswith("sales") for c in columns)
    with_channel = "channel_stock" in columns
    if warehouse is not None:
        params["code"] = warehouse
    if with_sales:
        params.update(_sales_params(now))
    # Planned once per connection, not on every call (``generic_plans`` says why).
    with generic_plans(session):
        rows = session.execute(
            _VIEW.get(session, (keywords, warehouse is not None, with_sales, with_channel)), params
        ).all()
    wh = None
    if warehouse is not None:
        wh = rows[0].scope
        if wh is None:
            raise NotFoundError(N_("no warehouse %(warehouse)r"), warehouse=warehouse)
    skus: dict[str, list[Any]] = {}
    for r in rows:
        if r.sku_code is not None:
            skus.setdefault(r.sku_code, []).append(r)
    codes = list(skus)
    pos = _inbound(session, account_id, codes, wh) if "purchases" in columns and codes else {}
    bins: dict[str, list[dict[str, Any]]] = {}
    if "bins" in columns and wh is not None and codes:
        bound = {"wh": wh, "codes": in_value(dialect_of(session), codes)}
        for sku_code, bin_code, qty in session.execute(_BINS.get(session), bound):
            bins.setdefault(sku_code, []).append({"bin": bin_code, "qty": qty})
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
