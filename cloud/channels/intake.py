"""Downloaded trades into the hub: one ``channel_order`` row per (shop, external id), written only
when the incoming ``modified`` is not older than the stored one, and a paid trade made into a
Guanjia order through the same domain function the orders API uses
(``cloud.orders.arrival.create_orders``: reservation and auto-audit included).

A trade that cannot become an order as it stands (a line whose ``outer_sku_id`` is not one of
our SKU codes, an address no courier can read, a price that is not a price) is kept, held,
with the reason: never dropped. Text is stored without NUL and other control characters
(PostgreSQL text cannot hold NUL); emoji stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import orjson
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cloud.channels import skumap, sold_at
from cloud.channels.ports import ChannelTrade
from cloud.db.bulk import insert_rows
from cloud.db.channel_stock import ChannelShopLocation
from cloud.db.engine import one_of
from cloud.db.models import ChannelOrder, ChannelShop, SalesOrder, Sku
from cloud.errors import DomainError
from cloud.orders.arrival import create_orders
from cloud.orders.core import Channel, LineIn, OrderIn
from protocol.messages import Recipient

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SECOND = timedelta(seconds=1)
#: How a hold for a SKU we do not know begins (a mapping added retries these: skumap.py).
UNMAPPED = "SKU"
MONEY = re.compile(r"^(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?$")


class Unusable(ValueError):
    """Why a trade cannot become an order as it stands (a sentence for a person)."""


def clean(value: Any, limit: int = 2000) -> str:
    text = "" if value is None else str(value)
    if not text.isprintable():  # every CONTROL character is unprintable; most text has none
        text = CONTROL.sub("", text)
    return text.strip()[:limit]


def money(value: Any, what: str) -> Decimal:
    """TOP writes money as text ("12.50"); some answers carry thousands separators
    ("1,299.00"). Anything else is refused, never guessed."""
    if isinstance(value, bool) or value is None:
        raise Unusable(f"{what} is missing")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    if not MONEY.match(text):
        raise Unusable(f"{what} is not an amount of money: {text[:20]!r}")
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise Unusable(f"{what} is not an amount of money: {text[:20]!r}") from None


def cents(amount: Decimal) -> int:
    return int(amount * 100)


def recipient_of(p: dict[str, Any]) -> Recipient:
    """The trade's address as our recipient; :class:`Unusable` when a courier cannot read it."""
    try:
        return Recipient(
            name=clean(p.get("receiver_name"), 200),
            phone=clean(p.get("receiver_mobile"), 32),
            province=clean(p.get("receiver_state"), 200),
            city=clean(p.get("receiver_city"), 200),
            district=clean(p.get("receiver_district"), 200) or None,
            address=" ".join(
                x
                for x in (clean(p.get("receiver_town"), 60), clean(p.get("receiver_address")))
                if x
            )[:200],
        )
    except ValidationError as err:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in err.errors() if e["loc"]}))
        raise Unusable(f"the address is incomplete or unreadable ({fields})") from None


def to_order(
    trade: ChannelTrade, known_skus: set[str], mapped: dict[str, str] | None = None
) -> OrderIn:
    """The Guanjia order a paid Taobao trade becomes; :class:`Unusable` says why not.

    A line's ``to_send`` (a Shopify order partly fulfilled before we first read it:
    shopify/orders.py) is the units still to send, imported instead of its ``num``; a line
    with none left is left out (its units were sent by someone else)."""
    p = trade.payload
    raw = p.get("orders", {})
    lines_raw = raw.get("order", []) if isinstance(raw, dict) else []
    if not isinstance(lines_raw, list) or not lines_raw:
        raise Unusable("the trade has no lines")
    lines = []
    for ln in lines_raw:
        if not isinstance(ln, dict):
            raise Unusable("a line is not an object")
        outer = clean(ln.get("outer_sku_id"), 120)
        # The shop's mapping (channel_sku_map) first; else the seller's code is ours.
        sku = (mapped or {}).get(outer, outer)
        if sku not in known_skus:
            raise Unusable(f"{UNMAPPED} {outer or '(no outer_sku_id)'} is not in the catalogue")
        num = ln.get("to_send", ln.get("num"))
        if num == 0 and "to_send" in ln:
            continue
        if isinstance(num, str) and num.isdigit():
            num = int(num)
        if not isinstance(num, int) or isinstance(num, bool) or not 1 <= num <= 100_000:
            raise Unusable(f"line {ln.get('oid')}: quantity {num!r} is not 1 to 100000")
        try:
            lines.append(
                LineIn(
                    line_id=clean(ln.get("oid"), 64) or "?",
                    sku_code=sku,
                    qty=num,
                    price_cents=cents(money(ln.get("price"), f"line {ln.get('oid')} price")),
                )
            )
        except ValidationError as err:
            raise Unusable(f"line {clean(ln.get('oid'), 64)}: {beyond(err)}") from None
    if not lines:
        raise Unusable("every line of the trade is sent already")
    recipient = recipient_of(p)
    nick = clean(p.get("buyer_nick"), 120) or "(no nick)"
    try:
        return OrderIn(
            order_no=trade.external_id,
            channel=cast(Channel, trade.channel),
            buyer_nick=nick,
            recipient=recipient,
            lines=lines,
            buyer_remark=clean(p.get("buyer_message")) or None,
            seller_note=clean(p.get("seller_memo")) or None,
            total_cents=cents(money(p.get("payment"), "the payment")),
        )
    except ValidationError as err:
        raise Unusable(beyond(err)) from None


def beyond(err: ValidationError) -> str:
    """What an order cannot hold, named: the money check takes any count of digits, and the
    order model bounds amounts (a payment of 2^63 yuan failed the download run itself with
    a ValidationError: ``make fuzz``, 100,000 Taobao answers, 934 such cases)."""
    fields = ", ".join(sorted({str(e["loc"][-1]) for e in err.errors() if e["loc"]}))
    return (
        f"the order cannot hold these values ({fields or 'the trade'}): out of range or unreadable"
    )


@dataclass
class Stored:
    new: int = 0
    changed: int = 0
    held: int = 0
    #: The trades stored that are Guanjia orders, each with the version stored before.
    ordered: list[tuple[ChannelOrder, dict[str, Any] | None, ChannelTrade]] = field(
        default_factory=list
    )


def unsettled(
    session: Session, shop_id: int, listed: dict[str, datetime], settle: timedelta
) -> list[str]:
    """The listed orders worth reading whole: all but those we hold a version of that is
    newer than the list's, or the same and *settled*.

    TOP's ``modified`` has whole seconds, so two changes in one second share it: a version
    with the same ``modified`` is the last of its second only if it was read after that
    second had passed, by more than the replicas may lag (``settle``).
    """
    if not listed:
        return []
    have = {
        ext: (modified, read_at)
        for ext, modified, read_at in session.execute(
            select(ChannelOrder.external_id, ChannelOrder.modified, ChannelOrder.read_at).where(
                ChannelOrder.shop_id == shop_id, one_of(session, ChannelOrder.external_id, listed)
            )
        ).all()
    }
    need = []
    for ext, modified in listed.items():
        got = have.get(ext)
        if got is not None and (
            got[0] > modified or (got[0] == modified and got[1] - got[0] > settle + SECOND)
        ):
            continue
        need.append(ext)
    return need


def unchanged(
    session: Session,
    shop_id: int,
    trades: list[ChannelTrade],
    read_at: datetime,
    settle: timedelta,
) -> set[str]:
    """The trades among ``trades`` we hold at this very version, which storing again would
    leave as they are: the same ``modified`` and the same payload as stored, in a row that is
    not held, read now no later than ``settle`` after its second.

    ``unsettled`` hands these over: a version read within ``settle`` of its second may not be
    the last of it (two changes in one second share ``modified``), so it is read again. Read
    again and found equal, storing it would only move ``read_at`` from one unsettled time to
    another and re-import nothing (an imported order has no change to apply, rule 17); a
    run's overlap re-lists every trade of its last minutes this way (docs/benchmarks.md, S33).
    Not spared: a payload that differs at the same ``modified`` (the second change of a
    second: applied as before); a read that settles the version (its ``read_at`` must be
    kept); a held row (storing retries its import, e.g. once the SKU exists)."""
    near = {t.external_id: t for t in trades if read_at - t.modified <= settle + SECOND}
    if not near:
        return set()
    same = set()
    for ext, modified, payload in session.execute(
        select(ChannelOrder.external_id, ChannelOrder.modified, ChannelOrder.payload).where(
            ChannelOrder.shop_id == shop_id,
            ChannelOrder.state != "held",
            one_of(session, ChannelOrder.external_id, near),
        )
    ):
        t = near[ext]
        if modified == t.modified and payload == _storable(t.payload):
            same.add(ext)
    return same


def store(
    session: Session,
    shop: ChannelShop,
    trades: list[ChannelTrade],
    now: datetime,
    read_at: datetime,
    *,
    guard: bool = True,
) -> Stored:
    """Upsert the trades (the newest version of each wins) and import the paid ones."""
    newest: dict[str, ChannelTrade] = {}
    for t in trades:
        had = newest.get(t.external_id)
        if had is None or not guard or t.modified >= had.modified:
            newest[t.external_id] = t
    stored = Stored()
    if not newest:
        return stored
    existing = {
        c.external_id: c
        for c in session.execute(
            select(ChannelOrder).where(
                ChannelOrder.shop_id == shop.id, one_of(session, ChannelOrder.external_id, newest)
            )
        ).scalars()
    }
    touched: list[tuple[ChannelOrder, ChannelTrade]] = []
    fresh: list[ChannelOrder] = []
    #: The version stored before this one, of orders imported already: what changed since.
    before: dict[str, dict[str, Any]] = {}
    for ext, t in newest.items():
        row = existing.get(ext)
        payload = _storable(t.payload)
        if row is None:
            # Not added to the session: written below in one bulk insert, with the state
            # the import gives it (one COPY instead of an INSERT and an UPDATE per order).
            row = _fresh(
                account_id=shop.account_id,
                shop_id=shop.id,
                external_id=ext,
                modified=t.modified,
                channel_status=t.status[:40],
                trade_type=t.trade_type[:40],
                payload=payload,
                state="waiting",
                hold_reason=None,
                order_id=None,
                versions=1,
                read_at=read_at,
                first_seen_at=now,
                changed_at=now,
            )
            fresh.append(row)
            stored.new += 1
        elif guard and t.modified < row.modified:
            continue  # an older version than the one stored (a lagging replica): ignored
        else:
            if row.order_id is not None:
                before[ext] = row.payload
            if t.modified != row.modified or row.payload != payload:
                stored.changed += 1
                row.versions += 1
            row.modified, row.payload, row.read_at = t.modified, payload, read_at
            row.channel_status, row.trade_type = t.status[:40], t.trade_type[:40]
            row.changed_at = now
        touched.append((row, t))
    session.flush()
    stored.held = import_trades(session, shop, touched, now)
    insert_rows(session, ChannelOrder, [{k: r.__dict__[k] for k in _COLUMNS} for r in fresh])
    # For changes.store: later changes (cancel, refund, address) reach the Guanjia order; one
    # just imported counts what it was imported with as the change from nothing.
    stored.ordered = [
        (row, before.get(row.external_id), t) for row, t in touched if row.order_id is not None
    ]
    return stored


_COLUMNS = tuple(c.key for c in ChannelOrder.__table__.columns if c.key != "id")


def _fresh(**values: Any) -> ChannelOrder:
    """A new channel order as a transient object with its attributes set directly (as
    cloud.orders.core.transient does for orders): it is written by ``insert_rows``, never
    through the session, and the instrumented constructor cost more than its insert."""
    row: ChannelOrder = ChannelOrder.__mapper__.class_manager.new_instance()
    row.__dict__.update(values)
    return row


def import_trades(
    session: Session,
    shop: ChannelShop,
    touched: list[tuple[ChannelOrder, ChannelTrade]],
    now: datetime,
) -> int:
    """Make Guanjia orders of the paid trades not yet imported; returns how many are held.

    In a Shopify shop with mapped locations each trade is reserved where Shopify sold it,
    and one that drew from two locations becomes one order per fulfillment order
    (sold_at.py)."""
    todo: list[tuple[ChannelOrder, list[OrderIn]]] = []
    codes = {
        clean(ln.get("outer_sku_id"), 120)
        for _, t in touched
        for ln in (t.payload.get("orders") or {}).get("order", [])
        if isinstance(ln, dict)
    }
    mapped = skumap.mapping(session, shop.id, codes)
    known = set(
        session.execute(
            select(Sku.sku_code).where(
                Sku.account_id == shop.account_id,
                one_of(session, Sku.sku_code, codes | set(mapped.values())),
            )
        ).scalars()
    )
    taken = set(
        session.execute(
            select(SalesOrder.order_no).where(
                SalesOrder.account_id == shop.account_id,
                one_of(session, SalesOrder.order_no, [row.external_id for row, _ in touched]),
            )
        ).scalars()
    )
    located = located_of(session, shop) if any(t.paid for _, t in touched) else {}
    for row, t in touched:
        if row.order_id is not None:
            continue  # imported already; later changes reach the order in a later slice
        if not t.paid:
            row.state, row.hold_reason = ("closed" if t.closed else "waiting"), None
            continue
        if row.external_id in taken:
            row.state, row.hold_reason = "held", "an order with this number exists already"
            continue
        try:
            body = to_order(t, known, mapped)
            routed = sold_at.parts(t.payload, located)
            todo.append((row, [body] if routed is None else sold_at.split_bodies(body, routed)))
        except (Unusable, sold_at.Unrouted) as why:
            row.state, row.hold_reason = "held", str(why)[:300]
    if todo:
        try:
            with session.begin_nested():
                made = create_orders(
                    session, shop.account_id, [b for _, bs in todo for b in bs], "channel", now
                )
            pairs, at = [], 0
            for row, bodies in todo:
                pairs.append((row, made[at : at + len(bodies)]))
                at += len(bodies)
        except DomainError:
            pairs = []
            for row, bodies in todo:  # one by one, so one refusal holds only its own order
                try:
                    with session.begin_nested():
                        some = create_orders(session, shop.account_id, bodies, "channel", now)
                    pairs.append((row, some))
                except DomainError as err:
                    row.state, row.hold_reason = "held", str(err)[:300]
        halves: dict[str, list[str]] = {}
        for row, orders in pairs:
            row.state, row.hold_reason, row.order_id = "imported", None, orders[0].id
            if len(orders) > 1:
                halves[orders[0].order_no] = [o.id for o in orders[1:]]
        for parent, ids in halves.items():
            # The halves of a trade Shopify split are the first order's split halves.
            session.execute(
                update(SalesOrder)
                .where(SalesOrder.id.in_(ids))
                .values(split_from=parent)
                .execution_options(synchronize_session=False)
            )
    return sum(1 for row, _ in touched if row.state == "held")


def located_of(session: Session, shop: ChannelShop) -> dict[str, str]:
    """A Shopify shop's location id -> our warehouse code (stock_locations.py); empty for
    any other shop or one with no mapping."""
    if shop.platform != "shopify":
        return {}
    rows = session.execute(
        select(ChannelShopLocation.location_id, ChannelShopLocation.warehouse).where(
            ChannelShopLocation.shop_id == shop.id
        )
    ).all()
    return {str(loc): str(wh) for loc, wh in rows}


#: In a trade as orjson writes it: a control character (escaped as ``\\u00XX``, ``\\b`` or
#: ``\\f``; DEL as itself) or an integer of 16 digits or more (perhaps beyond 2**53). Text
#: that merely looks so (an escaped backslash before "b") only sends it the slow way.
_SUSPECT = re.compile(rb"\\u00[01][0-9a-fA-F]|\\[bf]|\x7f|(?:^|[:,\[])-?[0-9]{16}")


def _storable(value: Any) -> Any:
    """The payload as JSON that both databases keep: no NUL or control characters.

    Most payloads need no change: one orjson pass (C) says so, and the payload is kept as it
    is; the rest are rebuilt (``_rebuilt``, which stores what ``_cleaned`` stores). TOP's
    trade and line ids are beyond 2**53, so every Taobao trade is rebuilt."""
    try:
        if not _SUSPECT.search(orjson.dumps(value)):
            return value
    except (TypeError, orjson.JSONEncodeError):
        pass  # not plain JSON (an integer beyond 64 bits, a key that is not text)
    return _rebuilt(value)


_BIG = 1 << 53


def _rebuilt(value: Any) -> Any:
    """``_cleaned`` for the types JSON decodes to, dispatched on the exact type with the
    scalars of a container handled in its own loop (a call per value cost a trade 18 µs,
    every Taobao trade takes this path); anything else goes to ``_cleaned``."""
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            tv = type(v)
            if tv is str:
                out[key] = v if v.isprintable() else CONTROL.sub("", v)
            elif tv is int:
                out[key] = v if -_BIG < v < _BIG else str(v)
            elif v is None or tv is bool or tv is float:
                out[key] = v
            else:
                out[key] = _rebuilt(v)
        return out
    if kind is list:
        return [_rebuilt(v) for v in value]
    if kind is str:
        return value if value.isprintable() else CONTROL.sub("", value)
    if kind is int:
        return value if -_BIG < value < _BIG else str(value)
    return _cleaned(value)


def _cleaned(value: Any) -> Any:
    """The reference: every value walked, whatever its type."""
    if isinstance(value, str):
        return CONTROL.sub("", value)
    if isinstance(value, dict):
        return {str(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1 << 53:
        return str(value)  # beyond what a JSON double keeps exactly (tids, oids)
    return value
