"""The marketplace's stock (库存) and the TOP methods that set it: what a seller pushes with
``taobao.item.quantity.update`` / ``taobao.skus.quantity.update`` and what buyers use up.

Shapes (open.taobao.com, the API pages of each method; research notes in
shared/research/channels.md):

- ``taobao.item.quantity.update``: ``num_iid`` (required), ``sku_id`` or ``outer_id`` (the
  SKU's 商家编码), ``quantity``, ``type`` 1 = full (全量, the default) / 2 = incremental (增量,
  a signed change); answers ``item`` with ``num_iid``, ``quantity`` and ``modified``, and the
  SKU changed under ``skus.sku[]``.
- ``taobao.skus.quantity.update``: the batch form, ``num_iid`` and at most 20 SKUs as
  ``skuid_quantities`` (``sku_id:quantity;…``) or ``outerid_quantities``, and ``type``.
- ``outer_biz_key`` on an incremental update: **Tmall's** idempotency key (the same key is
  applied once). The simulator honours it on every shop; a plain Taobao (C) shop may not.
- ``taobao.skus.custom.get``: the SKUs with a 商家编码 (``outer_id``): ``sku_id``,
  ``num_iid``, ``quantity``, ``modified`` (how a seller finds the listing of a code and reads
  its stock back).

Stock is taken when a buyer **pays** (付款减库存, one of the two modes TOP offers sellers; the
other, 拍下减库存, takes it at placing): a payment that needs more than the SKU has is refused
and the trade stays unpaid; nothing ever takes stock below 0. A shop's stock is *limited* from
its first stock call (or ``/_sim/stock``) on; before that buyers are not limited, as in the
download tests. An incremental update that would take a SKU below 0 is refused (code 15
``isv.item-quantity-update-error``; the real sub-code is not known to us).

Faults (``StockFaults``, drawn per seed): ``buy_during_push``, a buyer pays for the SKU between
the moment the update is asked and the moment it applies (a concurrent purchase during a
push), and ``push_timeout``, the update commits and the front answers a 504 page (the caller
cannot know it applied). Call limits are the gateway's (``Faults.rate_limit``).

The truth log (``log``) has every change of every SKU's stock: sets, additions, sales and
refused payments, in order, with the quantity after. A Shopify shop may have several
locations (``set_locations``): its quantities are then kept per location (``at``; the log's
entries of it name their ``location_id``, and a sale is taken from the locations in
priority order), ``levels`` holding their sum.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

from simulators.marketplace.clock import fmt

#: The market (simulators/marketplace/market.py, which imports this module: no import back).
Market = Any
Shop = Any
MAX_BATCH = 20  # skus.quantity.update: "最多20个SKU"


@dataclass
class StockFaults:
    buy_during_push: float = 0.0  # a buyer pays between a push's ask and its apply
    push_timeout: float = 0.0  # a quantity update commits, then its answer is lost (504)

    @classmethod
    def seeded(cls, seed: int) -> StockFaults:
        r = random.Random(f"stock-{seed}")
        return cls(
            buy_during_push=r.uniform(0.0, 0.6) if r.random() < 0.7 else 0.0,
            push_timeout=r.uniform(0.0, 0.3) if r.random() < 0.6 else 0.0,
        )


def num_iid_of(market: Market, sku: str) -> int:
    """The listing of a SKU code: one item per code here (as the buyers' trade lines say)."""
    return 600_000_000_000 + market.skus.index(sku) if sku in market.skus else 699_999_999_999


def sku_id_of(sku: str) -> str:
    return str(5_000_000_000 + sum(sku.encode()) % 1000)


class StockError(Exception):
    """A TOP error of a stock method (the gateway answers it as ``error_response``)."""

    def __init__(self, code: int, msg: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(msg)
        self.args4 = (code, msg, sub_code, sub_msg)


@dataclass
class ChannelStock:
    """Per (seller nick, 商家编码): the quantity on sale. Runs under the market's lock."""

    faults: StockFaults = field(default_factory=StockFaults)
    levels: dict[tuple[str, str], int] = field(default_factory=dict)
    limited: set[str] = field(default_factory=set)
    #: outer_biz_key -> the item answer it produced (applied once, answered again).
    applied_keys: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    modified: dict[tuple[str, str], float] = field(default_factory=dict)
    #: A Shopify shop with several locations (``set_locations``): its location ids in
    #: priority order, and the quantity at each (``levels`` then holds their sum, so the
    #: buyers' checks and the TOP methods read the shop's total as before).
    locations: dict[str, list[int]] = field(default_factory=dict)
    at: dict[tuple[str, str, int], int] = field(default_factory=dict)
    #: Their rows as ``locations.json`` answers them (shopify/inventory.py).
    shop_locations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def set_locations(self, nick: str, ids: list[int]) -> None:
        """The shop's locations from now on; what it held before is at the first."""
        old = self.locations.get(nick)
        self.locations[nick] = list(ids)
        for (n, sku), q in list(self.levels.items()):
            if n == nick and old is None:
                self.at[(nick, sku, ids[0])] = q
        for n, sku, loc in list(self.at):
            if n == nick and loc not in ids:
                del self.at[(n, sku, loc)]
        for n, sku in list(self.levels):
            if n == nick:
                self.levels[(n, sku)] = sum(self.at.get((n, sku, i), 0) for i in ids)

    def put_levels(
        self, market: Market, nick: str, levels: dict[str, int], location: int | None
    ) -> None:
        """``POST /_sim/stock``: the shop's quantities, as its seller sets them by hand. A
        shop with several locations is set at one, ``location`` (its others keep theirs;
        ``levels`` is their sum again); without one it is refused, as is a location the
        shop does not have or one given for a shop without locations (ValueError: a 400,
        nothing changed)."""
        ids = self.locations.get(nick)
        if ids is not None and location is None:
            raise ValueError(f"shop {nick} has several locations {ids}: give location_id")
        if ids is None and location is not None:
            raise ValueError(f"shop {nick} has no locations: no location_id")
        if ids is not None and location not in ids:
            raise ValueError(f"location {location} is not one of shop {nick}'s {ids}")
        if any(q < 0 for q in levels.values()):
            raise ValueError("a level is 0 or more")
        self.limited.add(nick)
        for sku, q in levels.items():
            if ids is not None and location is not None:
                self.at[(nick, sku, location)] = q
                self.levels[(nick, sku)] = sum(self.at.get((nick, sku, i), 0) for i in ids)
                self._note(market, nick, sku, "sim", delta=0, location=location)
                continue
            self.levels[(nick, sku)] = q
            self._note(market, nick, sku, "sim", delta=0)

    def level_at(self, nick: str, sku: str, location: int) -> int:
        return self.at.get((nick, sku, location), 0)

    def quantity(self, nick: str, sku: str) -> int | None:
        """None: not limited (the shop never had a stock call)."""
        if nick not in self.limited:
            return None
        return self.levels.get((nick, sku), 0)

    def _note(self, market: Market, nick: str, sku: str, action: str, **extra: Any) -> None:
        self.modified[(nick, sku)] = market.now
        self.log.append(
            {
                "seq": len(self.log) + 1,
                "at": market.now,
                "seller_nick": nick,
                "sku": sku,
                "action": action,
                "quantity": self.levels.get((nick, sku), 0),
                **extra,
            }
        )
        if "location" in extra:
            self.log[-1]["location_quantity"] = self.at.get((nick, sku, extra["location"]), 0)

    # --- buyers --------------------------------------------------------------------------

    def take(self, market: Market, tid: int) -> bool:
        """付款减库存: the payment of ``tid`` takes its lines' units, all or none."""
        trade = market.trades[tid][-1].trade
        nick = trade["seller_nick"]
        if nick not in self.limited:
            return True
        need: dict[str, int] = {}
        for line in trade["orders"]["order"]:
            need[line["outer_sku_id"]] = need.get(line["outer_sku_id"], 0) + int(line["num"])
        short = {s: n for s, n in need.items() if self.levels.get((nick, s), 0) < n}
        if short:
            for s, n in sorted(short.items()):
                self._note(market, nick, s, "refused", delta=0, wanted=n, tid=tid)
            return False
        for s, n in sorted(need.items()):
            self.levels[(nick, s)] = self.levels.get((nick, s), 0) - n
            if nick in self.locations:
                # Several locations: the sale is taken from them in priority order (Shopify
                # assigns an order to locations by the shop's ranking), one line per location.
                left = n
                for loc in self.locations[nick]:
                    have = max(self.at.get((nick, s, loc), 0), 0)
                    took = min(have, left)
                    if took:
                        self.at[(nick, s, loc)] = have - took
                        self._note(market, nick, s, "sale", delta=-took, tid=tid, location=loc)
                        left -= took
                continue
            self._note(market, nick, s, "sale", delta=-n, tid=tid)
        return True

    def buy_now(self, market: Market, nick: str, sku: str) -> None:
        """A buyer places and pays for one unit of ``sku`` at once (the concurrent purchase)."""
        shop = next((s for s in market.shops.values() if s.seller_nick == nick), None)
        if shop is None or self.levels.get((nick, sku), 0) <= 0 or sku not in market.skus:
            return
        tid = market.place_for(shop, sku)
        if self.take(market, tid):
            market.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS", pay_time=fmt(market.now))

    # --- the seller ----------------------------------------------------------------------

    def update(
        self, market: Market, nick: str, sku: str, quantity: int, kind: int, key: str
    ) -> tuple[int, bool]:
        """Apply one SKU's update; (quantity after, whether it was applied now)."""
        self.limited.add(nick)
        if market.rng.random() < self.faults.buy_during_push:
            self.buy_now(market, nick, sku)
        now = self.levels.get((nick, sku), 0)
        if kind == 1:
            if quantity < 0:
                raise StockError(41, "Invalid Arguments", "isv.invalid-parameter:quantity", "≥ 0")
            self.levels[(nick, sku)] = quantity
            self._note(market, nick, sku, "set", delta=quantity - now, key=key)
        else:
            if now + quantity < 0:
                raise StockError(
                    15,
                    "Remote service error",
                    "isv.item-quantity-update-error",
                    f"库存不足: {now} on sale, change {quantity}",
                )
            self.levels[(nick, sku)] = now + quantity
            self._note(market, nick, sku, "add", delta=quantity, key=key)
        return self.levels[(nick, sku)], True

    def write(
        self,
        market: Market,
        nick: str,
        sku: str,
        value: int,
        *,
        absolute: bool,
        location: int | None = None,
    ) -> int:
        """Shopify's writes (shopify/inventory.py): ``set`` overwrites, ``adjust`` adds a
        signed change with no floor (Shopify lets ``available`` go below 0) and no key.
        ``location``: the location written, in a shop with several (its quantity after)."""
        self.limited.add(nick)
        if market.rng.random() < self.faults.buy_during_push:
            self.buy_now(market, nick, sku)
        if nick in self.locations and location is not None:
            was = self.at.get((nick, sku, location), 0)
            self.at[(nick, sku, location)] = value if absolute else was + value
            delta = value - was if absolute else value
            self.levels[(nick, sku)] = self.levels.get((nick, sku), 0) + delta
            action = "set" if absolute else "add"
            self._note(market, nick, sku, action, delta=delta, key="", location=location)
            return self.at[(nick, sku, location)]
        now = self.levels.get((nick, sku), 0)
        self.levels[(nick, sku)] = value if absolute else now + value
        delta = value - now if absolute else value
        self._note(market, nick, sku, "set" if absolute else "add", delta=delta, key="")
        return self.levels[(nick, sku)]

    def state(self) -> dict[str, Any]:
        return {
            "faults": asdict(self.faults),
            "levels": [
                {"seller_nick": n, "sku": s, "quantity": q}
                for (n, s), q in sorted(self.levels.items())
            ],
            # Per location, for a shop with several (the truth per location).
            "at": [
                {"seller_nick": n, "sku": s, "location_id": loc, "quantity": q}
                for (n, s, loc), q in sorted(self.at.items())
            ],
            "log": list(self.log),
        }


# --- the TOP methods -----------------------------------------------------------------------


def _invalid(name: str, why: str) -> StockError:
    return StockError(41, "Invalid Arguments", f"isv.invalid-parameter:{name}", why)


def _sku_of(market: Market, num_iid: str, sku_id: str, outer_id: str) -> str:
    """The 商家编码 a (num_iid, sku_id | outer_id) names, or an isv error."""
    for sku in market.skus:
        if str(num_iid_of(market, sku)) != num_iid:
            continue
        if (outer_id and outer_id == sku) or (sku_id and sku_id == sku_id_of(sku)):
            return str(sku)
    raise _invalid("num_iid", f"no SKU {sku_id or outer_id!r} in item {num_iid}")


def _item(market: Market, num_iid: str, nick: str, skus: list[str]) -> dict[str, Any]:
    stock = market.stock
    rows = [
        {
            "sku_id": int(sku_id_of(s)),
            "outer_id": s,
            "quantity": stock.levels.get((nick, s), 0),
            "modified": fmt(stock.modified.get((nick, s), market.now)),
        }
        for s in skus
    ]
    return {
        "item": {
            "num_iid": int(num_iid),
            "quantity": sum(r["quantity"] for r in rows),
            "modified": fmt(market.now),
            "skus": {"sku": rows},
        }
    }


def _kind(params: dict[str, str]) -> int:
    text = params.get("type", "1") or "1"
    if text not in ("1", "2"):
        raise _invalid("type", "type is 1 (full) or 2 (incremental)")
    return int(text)


def _quantity(text: str, kind: int) -> int:
    t = text.strip()
    ok = t.lstrip("-").isdigit() and (kind == 2 or not t.startswith("-"))
    if not ok or abs(int(t)) > 999_999:
        raise _invalid("quantity", f"quantity {text[:20]!r} is not a whole number in range")
    return int(t)


def _apply(
    market: Market, shop: Shop, params: dict[str, str], wanted: list[tuple[str, int]]
) -> dict[str, Any]:
    kind, nick = _kind(params), shop.seller_nick
    key = params.get("outer_biz_key", "")
    if kind == 2 and key and (nick, key) in market.stock.applied_keys:
        # Tmall: an incremental update with a key already applied is not applied again.
        answered: dict[str, Any] = market.stock.applied_keys[(nick, key)]
        return answered
    for sku, q in wanted:
        market.stock.update(market, nick, sku, q, kind, key)
    answer = _item(market, params["num_iid"], nick, [s for s, _ in wanted])
    if kind == 2 and key:
        market.stock.applied_keys[(nick, key)] = answer
    return answer


def item_quantity_update(market: Market, shop: Shop, params: dict[str, str]) -> dict[str, Any]:
    num_iid = params.get("num_iid", "")
    if not num_iid.isdigit():
        raise _invalid("num_iid", "num_iid is required")
    kind = _kind(params)
    sku = _sku_of(market, num_iid, params.get("sku_id", ""), params.get("outer_id", ""))
    return _apply(market, shop, params, [(sku, _quantity(params.get("quantity", ""), kind))])


def skus_quantity_update(market: Market, shop: Shop, params: dict[str, str]) -> dict[str, Any]:
    num_iid = params.get("num_iid", "")
    if not num_iid.isdigit():
        raise _invalid("num_iid", "num_iid is required")
    kind = _kind(params)
    by_id, by_outer = params.get("skuid_quantities", ""), params.get("outerid_quantities", "")
    text = by_id or by_outer
    pairs = [p for p in text.split(";") if p.strip()]
    if not pairs:
        raise _invalid("skuid_quantities", "skuid_quantities or outerid_quantities is required")
    if len(pairs) > MAX_BATCH:
        raise _invalid("skuid_quantities", f"at most {MAX_BATCH} SKUs in one call")
    wanted = []
    for pair in pairs:
        ident, _, q = pair.partition(":")
        sku = _sku_of(market, num_iid, ident if by_id else "", "" if by_id else ident)
        wanted.append((sku, _quantity(q, kind)))
    return _apply(market, shop, params, wanted)


def skus_custom_get(market: Market, shop: Shop, params: dict[str, str]) -> dict[str, Any]:
    outer_id = params.get("outer_id", "").strip()
    if not outer_id:
        raise _invalid("outer_id", "outer_id is required")
    market.stock.limited.add(shop.seller_nick)
    rows = [
        {
            "sku_id": int(sku_id_of(outer_id)),
            "num_iid": num_iid_of(market, outer_id),
            "outer_id": outer_id,
            "quantity": market.stock.levels.get((shop.seller_nick, outer_id), 0),
            "modified": fmt(market.stock.modified.get((shop.seller_nick, outer_id), market.now)),
        }
        for _ in [0]
        if outer_id in market.skus
    ]
    return {"skus": {"sku": rows}} if rows else {}


METHODS = {
    "taobao.item.quantity.update": item_quantity_update,
    "taobao.skus.quantity.update": skus_quantity_update,
    "taobao.skus.custom.get": skus_custom_get,
}
#: Writes whose answer the ``push_timeout`` fault may lose after they applied.
WRITES = frozenset({"taobao.item.quantity.update", "taobao.skus.quantity.update"})


def stock_control(market: Market, verb: str, args: dict[str, Any]) -> dict[str, Any]:
    """``/_sim/stock``: GET the state; POST faults (``seed`` or fields) and/or levels."""
    stock = market.stock
    if verb == "POST":
        if "seed" in args:
            stock.faults = StockFaults.seeded(int(args["seed"]))
        for name in ("buy_during_push", "push_timeout"):
            if name in args:
                setattr(stock.faults, name, float(args[name]))
        if "seller_nick" in args:
            nick = str(args["seller_nick"])
            raw = args.get("location_id")
            location = None if raw is None else int(raw)
            levels = {str(s): int(q) for s, q in dict(args.get("levels", {})).items()}
            stock.put_levels(market, nick, levels, location)
    state: dict[str, Any] = stock.state()
    return state
