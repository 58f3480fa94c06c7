"""The dashboard's figures (cloud/web/pages/home.py): what is where today, what is late, and
the 30-day shipped trend. Read-only; one account's orders, tasks and nodes only.

Stages as Hupun's 经营看板 counts them (审核 → 打单 → 验货 → 称重 → 待发 → 已发) in our statuses
(cloud/orders/core.py): pending audit = new/saved/confirmed and not held; held = on hold,
whatever the status; then one figure per edge status; shipped = shipped today (order_log).
"% shipped today" as ShipBob shows it: shipped today over shipped today plus what was due
today and is still open. An open order is *late* when it arrived before the most recent
cut-off (``cutoff_hour`` o'clock, China time, the seller's day: audit_rules.CHINA) and has
not shipped: orders in by the cut-off ship the same day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal, select, union_all
from sqlalchemy.orm import Session

from cloud.db.engine import Statements
from cloud.db.models import Carrier, ChannelShop, Event, Node, OrderLog, SalesOrder, Task
from cloud.nodes import ownership
from cloud.orders import views
from cloud.orders.audit_rules import CHINA
from cloud.orders.core import AT_EDGE, CHANNELS, EDITABLE

OPEN = (*EDITABLE, "audited", *AT_EDGE)
#: A node is lagging when its oldest unacked event is older than this, or its sync lag is.
LAG_S = 300.0


@dataclass(frozen=True)
class Home:
    stages: dict[str, int]
    shipped_today: int
    shipped_pct: float | None
    late: int
    cutoff: datetime
    open_tasks: int
    nodes_total: int
    nodes_offline: int
    nodes_lagging: int
    trend: list[tuple[date, int]]


def last_cutoff(now: datetime, hour: int) -> datetime:
    """The most recent cut-off at or before ``now`` (China time)."""
    local = now.astimezone(CHINA)
    cut = datetime.combine(local.date(), time(hour), CHINA)
    return cut if cut <= local else cut - timedelta(days=1)


def _day_start(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(CHINA).date(), time(0), CHINA)


def late_filter(account_id: int, cutoff: datetime) -> Any:
    o = SalesOrder
    return and_(o.account_id == account_id, o.status.in_(OPEN), o.created_at < cutoff)


def home(session: Session, account_id: int, now: datetime, cutoff_hour: int) -> Home:
    o = SalesOrder
    stages = {s: 0 for s in ("pending_audit", "held", "audited", *AT_EDGE, "shipped")}
    rows = session.execute(
        select(o.status, o.on_hold, func.count())
        .where(o.account_id == account_id, o.status.in_(OPEN))
        .group_by(o.status, o.on_hold)
    ).all()
    for status, held, n in rows:
        if held:
            stages["held"] += n
        elif status in EDITABLE:
            stages["pending_audit"] += n
        else:
            stages[status] += n
    start = _day_start(now)
    shipped_log = (
        select(func.count(func.distinct(OrderLog.order_id)))
        .join(o, o.id == OrderLog.order_id)
        .where(o.account_id == account_id, OrderLog.to_status == "shipped", OrderLog.at >= start)
    )
    shipped_today = session.execute(shipped_log).scalar_one()
    stages["shipped"] = shipped_today
    cutoff = last_cutoff(now, cutoff_hour)
    late = session.execute(
        select(func.count()).select_from(o).where(late_filter(account_id, cutoff))
    ).scalar_one()
    due = shipped_today + late
    tasks_open = session.execute(
        select(func.count())
        .select_from(Task)
        .where(Task.account_id == account_id, Task.status == "open")
    ).scalar_one()
    nodes = fleet(session, account_id, now)
    return Home(
        stages=stages,
        shipped_today=shipped_today,
        shipped_pct=round(100.0 * shipped_today / due, 1) if due else None,
        late=late,
        cutoff=cutoff,
        open_tasks=tasks_open,
        nodes_total=len(nodes),
        nodes_offline=sum(1 for n in nodes if not n["online"]),
        nodes_lagging=sum(1 for n in nodes if n["lagging"]),
        trend=trend(session, account_id, now, 30),
    )


def trend(session: Session, account_id: int, now: datetime, days: int) -> list[tuple[date, int]]:
    """Orders shipped per day (China time) over the last ``days`` days, today included."""
    first = _day_start(now) - timedelta(days=days - 1)
    o = SalesOrder
    ats = session.execute(
        select(OrderLog.at)
        .join(o, o.id == OrderLog.order_id)
        .where(o.account_id == account_id, OrderLog.to_status == "shipped", OrderLog.at >= first)
    ).scalars()
    counts = {first.date() + timedelta(days=i): 0 for i in range(days)}
    for at in ats:
        # Stored in UTC; SQLite gives it back naive.
        day = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(CHINA).date()
        if day in counts:
            counts[day] += 1
    return sorted(counts.items())


def fleet(
    session: Session, account_id: int, now: datetime, node_id: str | None = None
) -> list[dict[str, Any]]:
    """The account's nodes (or the one ``node_id``, if the account's) with presence, backlog
    and lag, and whether each is lagging."""
    out = []
    q = select(Node).where(ownership.owned_by(account_id)).order_by(Node.node_id)
    if node_id is not None:
        q = q.where(Node.node_id == node_id)
    for n in session.execute(q).scalars():
        lag_s = (n.sync_lag_ms or 0) / 1000
        lagging = bool(n.online) and (
            (n.oldest_unacked_age_s or 0) > LAG_S or lag_s > LAG_S or bool(n.alarm)
        )
        out.append(
            {
                "node_id": n.node_id,
                "online": bool(n.online),
                "last_seen": n.last_seen,
                "epoch": n.epoch,
                "backlog": n.backlog,
                "oldest_unacked_age_s": n.oldest_unacked_age_s,
                "sync_lag_ms": n.sync_lag_ms,
                "alarm": n.alarm,
                "devices": n.devices or [],
                "software": n.software,
                "lagging": lagging,
            }
        )
    return out


def node_events(session: Session, account_id: int, order_no: str, limit: int = 50) -> list[Event]:
    """Events the account's nodes sent about one order (its scans, packs, weights, labels)."""
    mine = select(Node.node_id).where(ownership.owned_by(account_id))
    return list(
        session.execute(
            select(Event)
            .where(Event.node_id.in_(mine), Event.payload["order_id"].as_string() == order_no)
            .order_by(Event.received_at)
            .limit(limit)
        ).scalars()
    )


def late_orders(
    session: Session, account_id: int, cutoff: datetime, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The late orders behind the home page's figure, oldest first, as the order list shows them."""
    ids = session.execute(
        select(SalesOrder.id)
        .where(late_filter(account_id, cutoff))
        .order_by(SalesOrder.created_at, SalesOrder.order_no)
        .limit(limit)
        .offset(offset)
    ).scalars()
    return views.by_ids(session, list(ids))


#: The account's (``account``) courier codes and shop codes, each in code order.
_CHOICES = Statements(
    lambda _d, _v: union_all(
        select(literal(0).label("kind"), Carrier.__table__.c.code).where(
            Carrier.__table__.c.account_id == bindparam("account")
        ),
        select(literal(1).label("kind"), ChannelShop.__table__.c.code).where(
            ChannelShop.__table__.c.account_id == bindparam("account")
        ),
    ).order_by("kind", "code")
)


def order_choices(session: Session, account_id: int) -> dict[str, list[str]]:
    """What the order list's filters offer: the account's couriers and shops (their own
    tables, not a DISTINCT over every order) and the channels an order can come from.
    One statement built once for both lists (the couriers were loaded as ORM objects for
    their codes, on every order list page; issue 20, S35)."""
    carriers: list[str] = []
    shops: list[str] = []
    for kind, code in session.execute(_CHOICES.get(session), {"account": account_id}):
        (shops if kind else carriers).append(code)
    return {"carriers": carriers, "shops": shops, "channels": list(CHANNELS)}
