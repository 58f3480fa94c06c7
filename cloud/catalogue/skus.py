"""The catalogue: SKUs by the seller's code rule, barcodes, bundles and components.

The source's rules (GLOSSARY "货号 / 商家编码", manual §1-2):

* SKU codes follow brand + model + (series + category) + colour, e.g.
  ``MKING IPAD AIR2 金甲系列皮套-金色``; the parts are stored beside the code.
* Search (F10) takes space-separated keywords in any order; every keyword must match.
* One SKU may have several barcodes; one barcode means one SKU within an account.
* A bundle (捆绑商品) has no stock of its own: selling it consumes each component.
* Own-brand goods (自主品牌) list their semi-finished parts (半成品, codes ``BCP …``);
  their channel stock counts what the parts can still make (cloud/stock/ledger.py).

Every change is queued in the downlink of the account's nodes as ``catalogue.upsert``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import Select, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from cloud.db.bulk import insert_rows
from cloud.db.engine import Statements, dialect_of, in_param, in_value, like_pattern
from cloud.db.models import Barcode, Sku, SkuComponent
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError
from cloud.nodes import downlink
from protocol.messages import (
    Barcode as BarcodeText,
)
from protocol.messages import (
    BundleComponent,
    CatalogueUpsert,
    Name,
    SkuCode,
)

__all__ = ["ConflictError", "SkuIn", "upsert_sku"]

Part = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Mm = Annotated[int, Field(ge=0, le=100_000)]
Cents = Annotated[int, Field(ge=0, le=10**12)]


class SkuIn(BaseModel):
    """A SKU as the seller maintains it (the API body and one import row)."""

    model_config = ConfigDict(extra="forbid")

    sku_code: SkuCode
    name: Name
    barcodes: list[BarcodeText] = Field(min_length=1, max_length=32)
    brand: Part | None = None
    model: Part | None = None
    series: Part | None = None
    category: Part | None = None
    colour: Part | None = None
    kind: Literal["item", "bundle", "component"] = "item"
    own_brand: bool = False
    weight_g: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    length_mm: Mm | None = None
    width_mm: Mm | None = None
    height_mm: Mm | None = None
    price_cents: Cents | None = None
    min_price_cents: Cents | None = None
    gtin: Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")] | None = None
    serial_tracked: bool = False
    components: list[BundleComponent] = Field(default_factory=list, max_length=50)


def edge_view(item: SkuIn) -> CatalogueUpsert:
    return CatalogueUpsert(
        sku_code=item.sku_code,
        name=item.name,
        barcodes=item.barcodes,
        weight_g=item.weight_g,
        gtin=item.gtin,
        serial_tracked=item.serial_tracked,
        # Stations accept a bundle's components in its place; an own-brand bill of parts
        # is a purchasing matter the pack station does not need.
        components=item.components if item.kind == "bundle" else [],
    )


def _search_text(item: SkuIn) -> str:
    parts = [item.sku_code, item.name, item.brand, item.model, item.series, item.category]
    return " ".join(p for p in [*parts, item.colour, *item.barcodes] if p).lower()


def _check_shape(item: SkuIn) -> None:
    """What is wrong with ``item`` alone, whatever the catalogue holds (422)."""
    if item.kind == "bundle" and not item.components:
        raise InvalidError(N_("a bundle needs at least one component"), "components")
    if item.kind == "component" and item.components:
        raise InvalidError(N_("a component cannot itself have components"), "components")
    lo, hi = item.min_price_cents, item.price_cents
    if lo is not None and hi is not None and lo > hi:
        raise InvalidError(N_("min_price_cents is above price_cents"), "min_price_cents")
    if len(set(item.barcodes)) != len(item.barcodes):
        raise InvalidError(N_("a barcode is listed twice"), "barcodes")
    codes = [c.sku_code for c in item.components]
    if item.sku_code in codes:
        raise InvalidError(N_("a SKU cannot be its own component"), "components")
    if len(set(codes)) != len(codes):
        raise InvalidError(N_("a component is listed twice"), "components")


def _check(session: Session, account_id: int, item: SkuIn, batch: dict[str, SkuIn]) -> None:
    """Refuse what would break the catalogue's invariants (409) or is plainly wrong (422)."""
    _check_shape(item)
    taken = session.execute(
        select(Barcode.barcode, Barcode.sku_code).where(
            Barcode.account_id == account_id,
            Barcode.barcode.in_(item.barcodes),
            Barcode.sku_code != item.sku_code,
        )
    ).first()
    if taken:
        raise ConflictError(
            N_("barcode %(barcode)s already belongs to SKU %(sku)s"), barcode=taken[0], sku=taken[1]
        )
    codes = [c.sku_code for c in item.components]
    known = {
        code: kind
        for code, kind in session.execute(
            select(Sku.sku_code, Sku.kind).where(
                Sku.account_id == account_id, Sku.sku_code.in_(codes)
            )
        )
    }
    known.update({c: b.kind for c, b in batch.items() if c in codes})
    _check_components(item, known)


def _check_components(item: SkuIn, known: dict[str, str]) -> None:
    for code in (c.sku_code for c in item.components):
        if code not in known:
            raise InvalidError(
                N_("component %(sku)s is not in the catalogue"), "components", sku=code
            )
        if known[code] == "bundle":
            raise InvalidError(
                N_("component %(sku)s is a bundle; bundles do not nest"), "components", sku=code
            )


_CHUNK = 500


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def check_many(
    session: Session, account_id: int, items: dict[str, SkuIn]
) -> list[tuple[str, str | None, str]]:
    """What :func:`upsert_many` would refuse, as (sku_code, field, message): the checks of
    :func:`upsert_sku` for a whole file at once, a few queries instead of a few per row.

    A barcode may move between two SKUs of the same file (the batch's owner gives it up)."""
    errors: list[tuple[str, str | None, str]] = []
    for item in items.values():
        try:
            _check_shape(item)
        except InvalidError as err:
            errors.append((item.sku_code, err.field, str(err)))
    wanted = {b: i.sku_code for i in items.values() for b in i.barcodes}
    for chunk in _chunks(sorted(wanted)):
        for bc, owner in session.execute(
            select(Barcode.barcode, Barcode.sku_code).where(
                Barcode.account_id == account_id, Barcode.barcode.in_(chunk)
            )
        ):
            mine = wanted[bc]
            if owner != mine and (owner not in items or bc in items[owner].barcodes):
                errors.append((mine, "barcodes", f"barcode {bc} already belongs to SKU {owner}"))
    parts = sorted({c.sku_code for i in items.values() for c in i.components})
    known: dict[str, str] = {}
    for chunk in _chunks(parts):
        known.update(
            (code, kind)
            for code, kind in session.execute(
                select(Sku.sku_code, Sku.kind).where(
                    Sku.account_id == account_id, Sku.sku_code.in_(chunk)
                )
            )
        )
    known.update({c: b.kind for c, b in items.items()})
    for item in items.values():
        try:
            _check_components(item, known)
        except InvalidError as err:
            errors.append((item.sku_code, err.field, str(err)))
    return errors


def upsert_many(
    session: Session, account_id: int, items: list[SkuIn], now: datetime, actor: str
) -> dict[str, int]:
    """Create or replace many SKUs (checked by :func:`check_many` first) in bulk: the rows
    of :func:`upsert_sku`, written by a few statements per 500 SKUs instead of ten per SKU
    (an import of 20,000 rows took minutes). Returns, per node, the seq to push from."""
    codes = [i.sku_code for i in items]
    existing: set[str] = set()
    for chunk in _chunks(codes):
        existing.update(
            session.execute(
                select(Sku.sku_code).where(Sku.account_id == account_id, Sku.sku_code.in_(chunk))
            ).scalars()
        )
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for item in items:
        row = {
            "account_id": account_id,
            **item.model_dump(exclude={"barcodes", "components"}),
            "search_text": _search_text(item),
            "updated_at": now,
            "changed_by": actor,
        }
        (changed if item.sku_code in existing else new).append(row)
    session.flush()
    insert_rows(session, Sku, new)
    if changed:
        # ORM bulk UPDATE by primary key (executemany).
        session.execute(update(Sku), changed)
    for chunk in _chunks(codes):
        session.execute(
            delete(Barcode).where(Barcode.account_id == account_id, Barcode.sku_code.in_(chunk))
        )
        session.execute(
            delete(SkuComponent).where(
                SkuComponent.account_id == account_id, SkuComponent.sku_code.in_(chunk)
            )
        )
    insert_rows(
        session,
        Barcode,
        [
            {"account_id": account_id, "barcode": b, "sku_code": i.sku_code}
            for i in items
            for b in i.barcodes
        ],
    )
    insert_rows(
        session,
        SkuComponent,
        [
            {
                "account_id": account_id,
                "sku_code": i.sku_code,
                "component_code": c.sku_code,
                "qty": c.qty,
            }
            for i in items
            for c in i.components
        ],
    )
    nodes = downlink.nodes_of_account(session, account_id)
    return downlink.push(session, nodes, "catalogue.upsert", [edge_view(i) for i in items], now)


def upsert_sku(
    session: Session,
    item: CatalogueUpsert | SkuIn,
    now: datetime,
    account_id: int = downlink.DEFAULT_ACCOUNT,
    actor: str = "system",
    *,
    _batch: dict[str, SkuIn] | None = None,
) -> dict[str, int]:
    """Create or replace a SKU, its barcodes and components; queue it for the account's nodes.

    Returns, per node, the downlink seq just before the new change (to push from).
    """
    if isinstance(item, CatalogueUpsert):
        item = SkuIn.model_validate(
            {**item.model_dump(), "kind": "bundle" if item.components else "item"}
        )
    _check(session, account_id, item, _batch or {})
    fields: dict[str, Any] = item.model_dump(exclude={"barcodes", "components"})
    sku = session.get(Sku, (account_id, item.sku_code))
    if sku is None:
        session.add(
            Sku(
                account_id=account_id,
                **fields,
                search_text=_search_text(item),
                updated_at=now,
                changed_by=actor,
            )
        )
    else:
        for k, v in fields.items():
            setattr(sku, k, v)
        sku.search_text, sku.updated_at, sku.changed_by = _search_text(item), now, actor
    session.flush()
    session.execute(
        delete(Barcode).where(Barcode.account_id == account_id, Barcode.sku_code == item.sku_code)
    )
    session.execute(
        delete(SkuComponent).where(
            SkuComponent.account_id == account_id, SkuComponent.sku_code == item.sku_code
        )
    )
    insert_rows(
        session,
        Barcode,
        [
            {"account_id": account_id, "barcode": b, "sku_code": item.sku_code}
            for b in item.barcodes
        ],
    )
    insert_rows(
        session,
        SkuComponent,
        [
            {
                "account_id": account_id,
                "sku_code": item.sku_code,
                "component_code": c.sku_code,
                "qty": c.qty,
            }
            for c in item.components
        ],
    )
    session.flush()
    nodes = downlink.nodes_of_account(session, account_id)
    return downlink.push(session, nodes, "catalogue.upsert", [edge_view(item)], now)


#: The refusal of a new SKU whose code the account has already.
ALREADY = N_("SKU %(sku)s is in the catalogue already")


def create_sku(
    session: Session, item: SkuIn, now: datetime, account_id: int, actor: str
) -> dict[str, int]:
    """A new SKU (the dashboard's "new SKU" form): :func:`upsert_sku`, except that a code
    the account has already is refused (409) instead of replaced: a person typing a new
    SKU means a new one, and overwriting another's by a typo would lose it."""
    if session.get(Sku, (account_id, item.sku_code)) is not None:
        raise ConflictError(ALREADY, sku=item.sku_code)
    return upsert_sku(session, item, now, account_id, actor)


def get_sku(session: Session, account_id: int, sku_code: str) -> SkuIn:
    sku = session.get(Sku, (account_id, sku_code))
    if sku is None:
        raise NotFoundError(N_("no SKU %(sku_code)r"), sku_code=sku_code)
    return to_in(session, account_id, [sku])[0]


def last_change(session: Session, account_id: int, sku_code: str) -> tuple[datetime, str]:
    """When the SKU was last written and by whom (a form shows it and sends it back: a
    second person saving over a change they did not see is refused)."""
    sku = session.get(Sku, (account_id, sku_code))
    if sku is None:
        raise NotFoundError(N_("no SKU %(sku_code)r"), sku_code=sku_code)
    return sku.updated_at, sku.changed_by


def to_in(session: Session, account_id: int, skus: Sequence[Sku]) -> list[SkuIn]:
    codes = [s.sku_code for s in skus]
    bcs: dict[str, list[str]] = {}
    for bc, code in session.execute(
        select(Barcode.barcode, Barcode.sku_code)
        .where(Barcode.account_id == account_id, Barcode.sku_code.in_(codes))
        .order_by(Barcode.barcode)
    ):
        bcs.setdefault(code, []).append(bc)
    comps: dict[str, list[BundleComponent]] = {}
    for c in session.execute(
        select(SkuComponent)
        .where(SkuComponent.account_id == account_id, SkuComponent.sku_code.in_(codes))
        .order_by(SkuComponent.component_code)
    ).scalars():
        comps.setdefault(c.sku_code, []).append(
            BundleComponent(sku_code=c.component_code, qty=c.qty)
        )
    names = set(SkuIn.model_fields) - {"barcodes", "components"}
    return [
        SkuIn.model_construct(
            **{n: getattr(s, n) for n in names},
            barcodes=bcs.get(s.sku_code, []),
            components=comps.get(s.sku_code, []),
        )
        for s in skus
    ]


def _keywords(query: str) -> list[str]:
    return [k for k in query.lower().split() if k]


def search_filter(account_id: int, query: str | None) -> Any:
    """The WHERE clause of the F10 search: every space-separated keyword, in any order."""
    conds = [Sku.account_id == account_id]
    for kw in _keywords(query or ""):
        conds.append(Sku.search_text.like(like_pattern(kw), escape="\\"))
    return conds


def list_skus(
    session: Session,
    limit: int,
    offset: int,
    account_id: int = downlink.DEFAULT_ACCOUNT,
    query: str | None = None,
) -> list[SkuIn]:
    skus = (
        session.execute(
            select(Sku)
            .where(*search_filter(account_id, query))
            .order_by(Sku.sku_code)
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return to_in(session, account_id, skus)


#: The SKU columns the API shows (``SkuIn`` without its barcodes and components).
SKU_FIELDS = tuple(n for n in SkuIn.model_fields if n not in ("barcodes", "components"))


def page_select(dialect: str, fields: tuple[str, ...], keywords: int) -> Select[Any]:
    """One page of the F10 search, with named parameters (``page_params`` gives them):
    ``account``, ``kw0`` … (one per keyword), ``limit``, ``offset``.

    A keyword is found by position, not ``LIKE '%…%'``: the search reads every SKU of the
    account (a keyword of two Chinese characters has no trigram to look up), and the
    substring search costs PostgreSQL about half of the pattern match per row.
    """
    t = Sku.__table__.c
    find = func.strpos if dialect == "postgresql" else func.instr
    return (
        select(*(t[n] for n in fields))
        .where(
            t.account_id == bindparam("account"),
            *(
                find(t.search_text, bindparam(f"kw{i}", type_=t.search_text.type)) > 0
                for i in range(keywords)
            ),
        )
        .order_by(t.sku_code)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


def page_params(
    account_id: int, query: str | None, limit: int, offset: int
) -> tuple[dict[str, Any], int]:
    """The parameters of ``page_select`` for a search, and how many keywords it has."""
    kws = _keywords(query or "")
    params: dict[str, Any] = {"account": account_id, "limit": limit, "offset": offset}
    params.update({f"kw{i}": kw for i, kw in enumerate(kws)})
    return params, len(kws)


_PAGES = Statements(lambda d, v: page_select(d, *cast(tuple[tuple[str, ...], int], v)))


def sku_page(
    session: Session,
    account_id: int,
    query: str | None,
    limit: int,
    offset: int,
    fields: tuple[str, ...] = SKU_FIELDS,
) -> Sequence[Any]:
    """One page of the F10 search (every keyword, in any order), as rows of ``fields``."""
    params, keywords = page_params(account_id, query, limit, offset)
    return session.execute(_PAGES.get(session, (fields, keywords)), params).all()


def sku_rows(
    session: Session, account_id: int, query: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """The F10 search as the API shows it (``SkuIn``'s fields), read as plain rows: the
    busiest catalogue read, so no ORM objects or models are built (see cloud/orders/views.py)."""
    names = SKU_FIELDS
    out: dict[str, dict[str, Any]] = {}
    for r in sku_page(session, account_id, query, limit, offset):
        d = dict(zip(names, r, strict=True))
        d["barcodes"], d["components"] = [], []
        out[d["sku_code"]] = d
    if not out:
        return []
    params = {"account": account_id, "codes": in_value(dialect_of(session), out)}
    for bc, code in session.execute(_BARCODES.get(session), params):
        out[code]["barcodes"].append(bc)
    for code, part, qty in session.execute(_COMPONENTS.get(session), params):
        out[code]["components"].append({"sku_code": part, "qty": qty})
    return list(out.values())


#: The page's barcodes and components, built once with named parameters (``Statements``):
#: built on every search, with the codes bound as a value, the two selects cost SQLAlchemy
#: their construction and cache-key walk each time, ~15 % of a SKU search's CPU in py-spy
#: (issue 20, docs/benchmarks.md "S35"). The SQL is the same as before.
_BARCODES = Statements(
    lambda dialect, _v: (
        select(Barcode.__table__.c.barcode, Barcode.__table__.c.sku_code)
        .where(
            Barcode.__table__.c.account_id == bindparam("account"),
            in_param(dialect, Barcode.__table__.c.sku_code, "codes"),
        )
        .order_by(Barcode.__table__.c.barcode)
    )
)
_COMPONENTS = Statements(
    lambda dialect, _v: (
        select(
            SkuComponent.__table__.c.sku_code,
            SkuComponent.__table__.c.component_code,
            SkuComponent.__table__.c.qty,
        )
        .where(
            SkuComponent.__table__.c.account_id == bindparam("account"),
            in_param(dialect, SkuComponent.__table__.c.sku_code, "codes"),
        )
        .order_by(SkuComponent.__table__.c.component_code)
    )
)


def count_existing(session: Session, account_id: int, codes: Sequence[str]) -> int:
    """How many of ``codes`` are SKUs of the account already."""
    n = 0
    for chunk in _chunks(codes):
        n += int(
            session.execute(
                select(func.count())
                .select_from(Sku)
                .where(Sku.account_id == account_id, Sku.sku_code.in_(chunk))
            ).scalar_one()
        )
    return n


def count_skus(session: Session, account_id: int = downlink.DEFAULT_ACCOUNT) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(Sku).where(Sku.account_id == account_id)
        ).scalar_one()
    )


def components_of(
    session: Session, account_id: int, codes: Iterable[str]
) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for c in session.execute(
        select(SkuComponent).where(
            SkuComponent.account_id == account_id, SkuComponent.sku_code.in_(list(codes))
        )
    ).scalars():
        out.setdefault(c.sku_code, []).append((c.component_code, c.qty))
    return out
