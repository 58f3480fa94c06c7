"""Orders as the API shows them: plain rows read with SQLAlchemy Core, ready for JSON.

The order list, search and detail are most of the hub's read traffic. Loading them as ORM
objects and then validating them into response models cost ~10 ms of Python per page of
50 (profiled under ``guanjia bench cloud``); reading the columns the API shows as tuples
into dicts costs a fraction of that. The shapes are those of ``OrderOut`` / ``OrderDetail``
in ``cloud/api/schemas.py`` (the routes declare them as their response models, and the
schema tests check the answers against them).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    FromClause,
    Integer,
    Select,
    any_,
    bindparam,
    column,
    func,
    intersect,
    literal,
    null,
    or_,
    select,
    table,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, Executable

from cloud.db.engine import Statements, dialect_of, in_param, in_value, like_pattern
from cloud.db.models import (
    ChannelOrder,
    ChannelShop,
    OrderDecision,
    OrderLog,
    SalesOrder,
    SalesOrderLine,
    Warehouse,
)
from cloud.errors import N_, NotFoundError
from cloud.orders.audit_rules import CHINA

_O = SalesOrder.__table__.c
_L = SalesOrderLine.__table__.c
_D = OrderDecision.__table__.c
_H = OrderLog.__table__.c

#: The order's own columns in the API's order (OrderOut), ``warehouse`` and ``lines`` added.
ORDER_FIELDS = (
    "order_no",
    "channel",
    "status",
    "on_hold",
    "hold_reason",
    "carrier",
    "carrier_source",
    "buyer_nick",
    "recipient",
    "buyer_remark",
    "seller_note",
    "buyer_carrier",
    "seller_carrier",
    "total_cents",
    "reserved",
    "version",
    "tracking_number",
    "weighed_g",
    "merged_into",
    "split_from",
    "created_at",
    "changed_at",
    "changed_by",
)
LINE_FIELDS = ("line_id", "sku_code", "qty", "price_cents", "gift")
DECISION_FIELDS = ("check", "outcome", "rule_key", "rule_version", "reason", "actor", "created_at")
#: What the pages read besides: the reason's message id and parameters (migration 0046).
SAID_FIELDS = (*DECISION_FIELDS, "message", "params")
LOG_FIELDS = ("action", "from_status", "to_status", "reason", "actor", "at")
#: And a history line's message id and parameters (migration 0048), for the pages.
LOG_SAID_FIELDS = (*LOG_FIELDS, "message", "params")


def _select(driver: FromClause | None = None) -> Select[Any]:
    """The order columns; with ``driver`` (a set of order ids) the orders are read from it."""
    w = Warehouse.__table__.c
    orders: FromClause = SalesOrder.__table__
    if driver is not None:
        orders = driver.join(orders, _O.id == driver.c.id)
    return select(_O.id, *(_O[f] for f in ORDER_FIELDS), w.code.label("warehouse")).select_from(
        orders.join(Warehouse.__table__, w.id == _O.warehouse_id)
    )


#: The searched columns, each with a trigram index on PostgreSQL (migration 0007).
_SEARCHED = (_O.order_no, _O.buyer_nick, _O.tracking_number)
#: At most this many keywords of a search are used (each one narrows the list).
MAX_KEYWORDS = 5
#: SQLite's trigram index of the searched columns (migration 0023), kept in step by triggers.
_FTS = table("order_search", column("order_id"), column("order_search"))
#: Two-character pieces with a character beyond ASCII (migration 0036), kept by triggers:
#: what a trigram index cannot answer (张三). ``''`` marks an order with a value too long
#: for SQLite's triggers to cut up; every lookup reads those too.
_GRAM = table("order_search_gram", column("order_id"), column("gram"), column("account_id"))
#: On SQLite a keyword with at most this many index hits drives the query (its orders are
#: read and sorted); one with more is checked along the newest-first walk, which meets 50
#: matches soon when they are that common.
DRIVE_MAX = 5000
#: A keyword with at most this many hits drives without the others being counted.
RARE = 200


@dataclass(frozen=True)
class OrderFilter:
    """What the order list is narrowed to; the API (GET /api/v1/orders), the dashboard's
    list and its CSV/XLSX export all take this one object, so they filter alike.

    ``q`` is keywords separated by spaces, each matching part of the order number, buyer nick
    or tracking number, or the recipient's phone (the whole number, or its last 4 digits, as
    sellers search: 订单查询 by 手机号 / 手机尾号); every keyword must match. Dates are the
    seller's days (China time, audit_rules.CHINA), both ends included.
    """

    status: str | None = None
    on_hold: bool | None = None
    q: str | None = None
    channel: str | None = None
    shop: str | None = None
    carrier: str | None = None
    warehouse: str | None = None
    arrived_from: date | None = None
    arrived_to: date | None = None
    shipped_from: date | None = None
    shipped_to: date | None = None

    def keywords(self) -> list[str]:
        return (self.q or "").split()[:MAX_KEYWORDS]


_EQUAL = ("status", "on_hold", "channel", "carrier")
_RANGES = ("arrived_from", "arrived_to", "shipped_from", "shipped_to")


def _day(d: date, end: bool) -> datetime:
    """The start of the seller's day ``d`` (China time), or of the day after for an end."""
    return datetime.combine(d + timedelta(days=1) if end else d, time(0), CHINA)


def _phone_digits(word: str) -> str | None:
    """The digits of a keyword that looks like a phone number or its end, else None."""
    digits = "".join(ch for ch in word if ch.isdigit())
    if len(digits) < 4 or any(ch not in "0123456789+- " for ch in word):
        return None
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def _shop_orders() -> Select[Any]:
    """The ids of the orders that came from the shop ``:shop`` of ``:account``."""
    shops = select(ChannelShop.id).where(
        ChannelShop.account_id == bindparam("account"), ChannelShop.code == bindparam("shop")
    )
    return select(ChannelOrder.order_id.label("id")).where(
        ChannelOrder.shop_id.in_(shops), ChannelOrder.order_id.is_not(None)
    )


def _gram_is(value: ColumnElement[str]) -> ColumnElement[bool]:
    return or_(_GRAM.c.gram == value, _GRAM.c.gram == "")


def gram_of(word: str) -> str | None:
    """The piece to look up in ``order_search_gram`` for a keyword of two characters with one
    beyond ASCII, else None. ASCII letters lower-cased on SQLite only, as 0036 stores them."""
    if len(word) != 2 or word.isascii():
        return None
    return word


def _build_page(_dialect: str, variant: Hashable) -> Executable:
    present, words, drive = cast(
        tuple[frozenset[str], tuple[tuple[str, bool], ...], int | str | None], variant
    )
    account: BindParameter[int] = bindparam("account")
    # DISTINCT: an order merged from two of the shop's orders must come once.
    driver = _shop_orders().distinct().subquery("shop_orders") if drive == "shop" else None
    for_postgres: list[Select[Any] | CompoundSelect[Any]] = []
    narrow: list[ColumnElement[bool]] = []
    for i, (kind, phone) in enumerate(words):
        like: BindParameter[str] = bindparam(f"like{i}")
        by_phone = []
        if phone:
            # The whole number or its last 4 digits, each through its own index (0016).
            by_phone = [_O.phone == bindparam(f"phone{i}"), _O.phone_tail == bindparam(f"tail{i}")]
        phone_hits = [select(_O.id).where(_O.account_id == account, c) for c in by_phone]
        if kind == "gram":
            # Two characters with Chinese in them (0036): the orders holding that piece, then
            # the same LIKE as a scan would apply. DISTINCT: an order may be under the piece
            # and under '' (too long to cut up).
            gram_hits = (
                select(_GRAM.c.order_id.label("id"))
                .where(_GRAM.c.account_id == account, _gram_is(bindparam(f"gram{i}")))
                .distinct()
            )
            if i == drive:
                driver = gram_hits.subquery("hits")
            elif _dialect == "postgresql":
                for_postgres.append(gram_hits)
        elif kind == "trigram":
            # The matches first, one column at a time through its trigram index, then those
            # orders by id. With the LIKEs OR-ed on the order list's own path, the planner
            # walked the newest-first index through every order until it had a page: matches
            # of one download share a timestamp, and it cannot know they are not spread evenly.
            for_postgres.append(
                union(
                    *(
                        select(_O.id).where(_O.account_id == account, col.like(like, escape="\\"))
                        for col in _SEARCHED
                    ),
                    *phone_hits,
                )
            )
            continue
        if kind == "fts" and i == drive:
            # SQLite (0023): candidates from the trigram index, then the same LIKE as a scan
            # would apply (the index folds case beyond ASCII, LIKE does not: same results).
            # The other keywords: that LIKE only, on the driver's few orders, or along the
            # newest-first walk when every keyword is common (it meets a page of matches
            # soon; gathering common keywords' hits to probe them cost more: 80 ms).
            # The candidates are the ids the count read (``_hits_up_to``), as a JSON array:
            # asking the index again cost as much as the count itself (issue 20, "S36").
            each = func.json_each(bindparam(f"hits{i}")).table_valued("value")
            hits = union(select(each.c.value.label("id")), *phone_hits)
            driver = hits.subquery("hits")
        narrow.append(or_(*(col.like(like, escape="\\") for col in _SEARCHED), *by_phone))
    if driver is None:
        stmt = _select().where(_O.account_id == account, *narrow)
    else:
        # ``account_id + 0`` disqualifies the (account, created_at) index, which SQLite would
        # otherwise walk newest first, probing the driver for each order (it flattens or
        # reorders the join): https://www.sqlite.org/optoverview.html#disqualifying_indexes
        stmt = _select(driver).where(_O.account_id + 0 == account, *narrow)
    if for_postgres:
        # The keywords' hits intersected as sets: an order must match every keyword. One
        # array per keyword, each tested with ``= ANY``, compared every row of the first
        # with every element of the others (two keywords of which one is common: 564 ms).
        both = for_postgres[0] if len(for_postgres) == 1 else intersect(*for_postgres)
        stmt = stmt.where(_O.id == any_(func.array(both.scalar_subquery())))
    for name in _EQUAL:
        if name in present:
            stmt = stmt.where(_O[name] == bindparam(name))
    if "warehouse" in present:
        stmt = stmt.where(
            _O.warehouse_id
            == select(Warehouse.id)
            .where(Warehouse.account_id == account, Warehouse.code == bindparam("warehouse"))
            .scalar_subquery()
        )
    if "shop" in present and drive != "shop":
        stmt = stmt.where(_O.id.in_(_shop_orders()))
    if "arrived_from" in present:
        stmt = stmt.where(_O.created_at >= bindparam("arrived_from"))
    if "arrived_to" in present:
        stmt = stmt.where(_O.created_at < bindparam("arrived_to"))
    if "shipped_from" in present:
        stmt = stmt.where(_O.shipped_at >= bindparam("shipped_from"))
    if "shipped_to" in present:
        stmt = stmt.where(_O.shipped_at < bindparam("shipped_to"))
    return (
        stmt.order_by(_O.created_at.desc(), _O.order_no)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


_PAGE = Statements(_build_page)
_LINES = Statements(
    lambda dialect, _: (
        select(_L.order_id, *(_L[f] for f in LINE_FIELDS))
        .where(in_param(dialect, _L.order_id, "ids"))
        .order_by(_L.order_id, _L.line_id)
    )
)


#: The order and its lines in one statement (the detail: :func:`detail`).
def _one_with_lines() -> Executable:
    """The order (part 0) and then its lines (part 1), in one statement. A join would repeat
    the order's columns on every line, and the driver would decode its JSON and timestamps
    once per line (on SQLite that cost more than the statement saved); here each row has
    either the order's columns or a line's, the rest null."""
    line_cols = [_L[f] for f in LINE_FIELDS]
    order = _select().where(
        _O.account_id == bindparam("account"), _O.order_no == bindparam("order_no")
    )
    head = order.add_columns(
        *(type_coerce(null(), c.type).label(f"line_{c.name}") for c in line_cols),
        literal(0).label("part"),
    )
    lines = select(*(null() for _ in order.selected_columns), *line_cols, literal(1)).where(
        _L.order_id == order.with_only_columns(_O.id).scalar_subquery()
    )
    both = union_all(head, lines).subquery()
    return select(*(c for c in both.c if c.name != "part")).order_by(
        both.c.part, both.c.line_line_id
    )


_ONE_WITH_LINES = Statements(lambda _d, _v: _one_with_lines())
_HEAD_FIELDS = ("id", *ORDER_FIELDS, "warehouse")


def _trail(said: bool) -> Executable:
    """An order's decisions (kind 0) and history lines (kind 1), each in id order, in one
    statement: the log's columns are put where the decision's of the same type are (check/
    action, outcome/from_status, rule_key/to_status, reason, actor, created_at/at), with a
    null for rule_version, which a log line does not have."""
    extra = ("message", "params") if said else ()
    decisions = select(
        literal(0).label("kind"),
        _D.id.label("row_id"),
        *(_D[f] for f in (*DECISION_FIELDS, *extra)),
    ).where(_D.order_id == bindparam("order_id"))
    history = select(
        literal(1),
        _H.id,
        _H.action,
        _H.from_status,
        _H.to_status,
        cast_(null(), Integer),
        _H.reason,
        _H.actor,
        _H.at,
        *(_H[f] for f in extra),
    ).where(_H.order_id == bindparam("order_id"))
    trail = union_all(decisions, history).subquery()
    return select(*(c for c in trail.c if c.name != "row_id")).order_by(
        trail.c.kind, trail.c.row_id
    )


_TRAIL = Statements(lambda _d, _v: _trail(False))
_TRAIL_SAID = Statements(lambda _d, _v: _trail(True))


def _with_lines(session: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of ``_select()`` (id first) as the API's orders, each with its lines.

    A row is made a dict by zipping the known names with it, not by ``dict(row._mapping)``,
    which looks each of the 24 columns up by name: 3.6 µs against 1.1 µs per order, a
    tenth of an order list's CPU in py-spy (issue 20, docs/benchmarks.md "S35"). The
    names and their order are ``_select``'s, so the answer is the same byte for byte."""
    if not rows:
        return []
    names = _HEAD_FIELDS[1:]
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        d = dict(zip(names, r[1:], strict=True))
        d["lines"] = []
        out[r[0]] = d
    ids = in_value(dialect_of(session), out)
    # ``.all()``: the driver's one fetchall, not a fetchone per line through SQLAlchemy's
    # result (~80 lines a page: 0.04-0.1 ms of an order list, issue 20, "S36").
    for r in session.execute(_LINES.get(session), {"ids": ids}).all():
        out[r[0]]["lines"].append(dict(zip(LINE_FIELDS, r[1:], strict=True)))
    return list(out.values())


def page(
    session: Session,
    account_id: int,
    f: OrderFilter,
    *,
    limit: int,
    offset: int,
    lines: bool = True,
) -> list[dict[str, Any]]:
    """Newest first, narrowed by ``f`` (see :class:`OrderFilter`). ``lines`` False: the
    orders without their ``lines`` (a list that shows none: the audit queue's, where
    reading them was ~14 % of the page)."""
    params: dict[str, Any] = {"account": account_id, "limit": limit, "offset": offset}
    present = set()
    for name in (*_EQUAL, "warehouse", "shop"):
        value = getattr(f, name)
        if value is not None and value != "":
            params[name] = value
            present.add(name)
    for name in _RANGES:
        value = getattr(f, name)
        if value is not None:
            params[name] = _day(value, end=name.endswith("_to"))
            present.add(name)
    postgres = dialect_of(session) == "postgresql"
    words = []
    counts: dict[int | str, int] = {}
    keywords = f.keywords()
    for i, word in enumerate(keywords):
        params[f"like{i}"] = like_pattern(word)
        digits = _phone_digits(word)
        if digits is not None:
            params[f"phone{i}"] = digits
            params[f"tail{i}"] = digits if len(digits) == 4 else None
        # A keyword of three characters or more has trigrams to look up; a shorter one
        # would read the whole index (PostgreSQL) or finds nothing in it (SQLite's FTS5
        # trigram tokenizer): two characters with Chinese (or any beyond ASCII) in them are
        # looked up in our own index of such pieces (0036), the rest scan, as before.
        gram = gram_of(word)
        if gram is not None:
            params[f"gram{i}"] = gram if postgres else _ascii_lower(gram)
            words.append(("gram", digits is not None))
        elif len(word) < 3:
            words.append(("scan", digits is not None))
        elif postgres:
            words.append(("trigram", digits is not None))
        else:
            # As one FTS5 string (https://www.sqlite.org/fts5.html#fts5_strings): quotes
            # doubled, so ", *, NEAR, OR, AND, ^ are text to find, not query syntax.
            params[f"fts{i}"] = '"' + word.replace('"', '""') + '"'
            words.append(("fts", digits is not None))
    # Counting a common keyword's hits reads its trigrams' whole lists (~30 ms at 100,000
    # orders): the longest keywords first, and none after one that is rare enough.
    by_length = sorted(
        (i for i, w in enumerate(words) if w[0] in ("fts", "gram") and not postgres),
        key=lambda i: -len(keywords[i]),
    )
    for i in by_length:
        if words[i][0] == "gram":
            bound = {"account": account_id, "gram": params[f"gram{i}"], "cap": DRIVE_MAX + 1}
            counts[i] = int(session.execute(_GRAM_COUNT.get(session), bound).scalar_one())
        else:
            counts[i], params[f"hits{i}"] = _hits_up_to(session, params[f"fts{i}"], DRIVE_MAX + 1)
        if counts[i] <= RARE:
            break
    if "shop" in present and not postgres:
        counts["shop"] = _shop_orders_up_to(session, params, DRIVE_MAX + 1)
    # On SQLite the narrowest of the keywords and the shop drives when its orders are few
    # enough to read and sort; else the planner walks the orders newest first, and probes
    # each one (for a shop with no orders or a rare keyword: every order, 300 ms and more).
    drive = min(counts, key=lambda k: counts[k], default=None)
    if drive is not None and counts[drive] > DRIVE_MAX:
        drive = None
    variant = (frozenset(present), tuple(words), drive)
    rows = session.execute(_PAGE.get(session, variant), params).all()
    if not lines:
        names = _HEAD_FIELDS[1:]
        return [dict(zip(names, r[1:], strict=True)) for r in rows]
    return _with_lines(session, rows)


def _hits_statement() -> Executable:
    found = (
        select(_FTS.c.order_id)
        .where(_FTS.c.order_search.op("MATCH")(bindparam("fts")))
        .limit(bindparam("cap"))
        .subquery()
    )
    return select(func.count(), func.json_group_array(found.c.order_id)).select_from(found)


_COUNT = Statements(lambda _d, _v: _hits_statement())


_GRAM_COUNT = Statements(
    lambda _d, _v: select(func.count()).select_from(
        select(_GRAM.c.order_id)
        .where(_GRAM.c.account_id == bindparam("account"), _gram_is(bindparam("gram")))
        .limit(bindparam("cap"))
        .subquery()
    )
)


def _ascii_lower(word: str) -> str:
    """As SQLite's ``lower()``: ASCII letters only (its ``LIKE`` folds no others)."""
    return "".join(ch.lower() if ch.isascii() else ch for ch in word)


_SHOP_COUNT = Statements(
    lambda _d, _v: select(func.count()).select_from(
        _shop_orders().limit(bindparam("cap")).subquery()
    )
)


def _shop_orders_up_to(session: Session, params: dict[str, Any], cap: int) -> int:
    """How many orders came from the filter's shop, counting to ``cap``."""
    bound = {"account": params["account"], "shop": params["shop"], "cap": cap}
    return int(session.execute(_SHOP_COUNT.get(session), bound).scalar_one())


def _hits_up_to(session: Session, fts: str, cap: int) -> tuple[int, str]:
    """How many orders (of any account) the index finds for one keyword, counting to
    ``cap``, and their ids as a JSON array (SQLite's ``json_group_array``, built in C: the
    page reads a driving keyword's candidates from it instead of asking the index again)."""
    count, ids = session.execute(_COUNT.get(session), {"fts": fts, "cap": cap}).one()
    return int(count), str(ids)


def by_ids(session: Session, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The orders with these ids, in the order given."""
    session.flush()
    rows = session.execute(_select().where(_O.id.in_(list(ids)))).all()
    found = dict(zip([r.id for r in rows], _with_lines(session, rows), strict=True))
    return [found[i] for i in ids]


def detail(
    session: Session, account_id: int, order_no: str, *, said: bool = False
) -> dict[str, Any]:
    """One order with every audit decision (which rule fired, and why) and its history.
    ``said``: each decision's reason and each history line also as its message id and
    parameters (for the pages; the API answers the English ``reason``).

    Two statements (issue 20): the order with its lines, then its decisions and history
    lines together. Every write of an order answers with this read, so it is most of
    what a hold or a re-save costs after its own statements (docs/benchmarks.md)."""
    # Core reads do not autoflush: what this request changed must be visible to them.
    session.flush()
    rows = session.execute(
        _ONE_WITH_LINES.get(session), {"account": account_id, "order_no": order_no}
    ).all()
    if not rows:
        raise NotFoundError(N_("no order %(order)r"), order=order_no)
    # The names as plain strings (a row's own names from a union are SQLAlchemy's
    # ``quoted_name``, which the JSON encoder refuses as keys).
    n = len(_HEAD_FIELDS)
    out = dict(zip(_HEAD_FIELDS, rows[0][:n], strict=True))
    order_id = out.pop("id")
    out["lines"] = [dict(zip(LINE_FIELDS, r[n:], strict=True)) for r in rows[1:]]
    fields, names = (SAID_FIELDS, LOG_SAID_FIELDS) if said else (DECISION_FIELDS, LOG_FIELDS)
    out["decisions"], out["history"] = [], []
    for kind, *values in session.execute(
        (_TRAIL_SAID if said else _TRAIL).get(session), {"order_id": order_id}
    ).all():
        if kind == 0:
            out["decisions"].append(dict(zip(fields, values, strict=True)))
        else:
            # The log's columns sit where the decision's do (_trail); rule_version is not one.
            del values[3]
            out["history"].append(dict(zip(names, values, strict=True)))
    return out
