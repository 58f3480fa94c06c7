"""``/admin/api/<version>/…``: Shopify's Admin REST API over the marketplace world.

Shape (shopify.dev, Admin REST "Order", "FulfillmentOrder", "Fulfillment", "REST Admin API
rate limits", "Paginating results with REST"):
- ``X-Shopify-Access-Token`` authenticates; a bad or revoked token is 401
  ``{"errors": "[API] Invalid API key or access token …"}``;
- a leaky bucket per token: 40 calls, leaking 2 a second; every answer carries
  ``X-Shopify-Shop-Api-Call-Limit: n/40``; a full bucket is 429 with ``Retry-After``
  (seconds) — which some answers lack, as in life;
- ``orders.json``: ``status`` (``open`` by default!, ``closed``, ``cancelled``, ``any``),
  ``updated_at_min/max``, ``limit`` (50 by default, at most 250), ``fields``; pages by cursor:
  the ``Link`` header carries ``page_info`` for the ``next`` and ``previous`` pages, and a
  request with ``page_info`` may carry only ``limit`` and ``fields`` beside it (400 otherwise:
  the cursor holds the filters);
- ``orders/{id}.json``, ``orders/{id}/fulfillment_orders.json``, ``orders/{id}/fulfillments.json``
  and ``POST fulfillments.json`` (``line_items_by_fulfillment_order`` with ``tracking_info``;
  the fulfillment leaves from its fulfillment order's ``assigned_location_id``: the shop's
  first location, or where ``POST fulfillment_orders/{id}/move.json`` moved it);
- split fulfillment orders: in a shop with several locations, a paid order whose units were
  taken from two locations (the world's stock takes a sale from the locations in priority
  order: stock.py) has one fulfillment order per location, each with the line items (and
  quantities) taken there; a fulfillment closes only the fulfillment orders it names, and
  the order is fulfilled when all of them are;
- partial fulfilment: a fulfillment may name some units of a fulfillment order
  (``fulfillment_order_line_items`` ``id`` and ``quantity``); the fulfillment order is then
  ``in_progress`` with each line item's ``fulfillable_quantity`` what is left, and a quantity
  beyond that is 422 with nothing fulfilled. The truth (``market.confirmations``) has one
  entry per fulfillment order fulfilled: its id and the location it left from;
- every fulfillment changes the order (a new version: ``updated_at``, ``orders/updated``):
  ``fulfillment_status`` ``partial`` while some units are sent, ``fulfilled`` when all are,
  with each line item's ``fulfillable_quantity``; ``POST fulfillments/{id}/cancel.json``
  gives a fulfillment's units back (shopify/fulfilments.py);
- ``GET fulfillment_orders/{id}.json``: one fulfillment order (with its ``order_id``);
  a move sends the ``fulfillment_orders/moved`` webhook (shopify/webhooks.py); a fulfillment
  order some units of which were fulfilled (``in_progress``) is moved in part: the units
  left go into a new fulfillment order at the new location, the original keeps what was
  fulfilled, closed, where it was (Admin GraphQL "fulfillmentOrderMove");
- webhook subscriptions, ``webhooks.json`` and ``webhooks/{id}.json``: shopify/subscriptions.py;
- products, locations and inventory levels (``inventory_levels/set.json``, ``adjust.json``):
  shopify/inventory.py.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from simulators.marketplace.clock import parse_text
from simulators.marketplace.market import Market, Version
from simulators.marketplace.shopify import fulfilments, inventory, moves
from simulators.marketplace.shopify.replies import (
    FO_OFFSET,
    SPLIT_FO,
    ApiError,
    Headers,
    Reply,
)
from simulators.marketplace.shopify.replies import ok as _ok
from simulators.marketplace.shopify.shape import iso, order_json, refunds_done, status_matches
from simulators.marketplace.shopify.subscriptions import SubscriptionError
from simulators.marketplace.shopify.webhooks import Webhooks

BUCKET, LEAK = 40.0, 2.0  # "a bucket size of 40 … a leak rate of 2 requests per second"
MAX_LIMIT = 250
PATH = re.compile(r"^/admin/api/(?P<version>\d{4}-\d{2}|unstable)/(?P<rest>.+)$")
ORDER = re.compile(r"^orders/(?P<id>\d+)(?P<sub>/fulfillment_orders|/fulfillments)?\.json$")
MOVE = re.compile(r"^fulfillment_orders/(?P<id>\d+)/move\.json$")
ONE_FO = re.compile(r"^fulfillment_orders/(?P<id>\d+)\.json$")
CANCEL = re.compile(r"^fulfillments/(?P<id>\d+)/cancel\.json$")
BAD_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume "
    "uninterrupted service."
)
HTML_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
HTML_504 = b"<html><body><h1>504 Gateway Time-out</h1></body></html>"


@dataclass
class Bucket:
    level: float = 0.0
    at: float = 0.0


@dataclass
class ShopifyStore:
    """The Shopify shops of one marketplace world (tokens, buckets, fulfillments, webhooks)."""

    market: Market
    #: access token -> the shop's myshopify domain (the world's seller nick).
    tokens: dict[str, str] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    #: order id -> fulfillments created (id, tracking number, company).
    fulfillments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: fulfillment order id -> the location it was moved to (``move.json``); the location
    #: its units were taken from otherwise (the shop's first active one when none was).
    moved: dict[int, int] = field(default_factory=dict)
    #: fulfillment order id -> the order it belongs to (every id handed out).
    fo_orders: dict[int, int] = field(default_factory=dict)
    #: (order id, index) -> the id of the order's fulfillment order of that index (k >= 1).
    fo_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    #: fulfillment order ids fulfilled (closed by a fulfillment).
    fo_done: set[int] = field(default_factory=set)
    #: fulfillment order line item id -> units fulfilled so far (a fulfillment may send
    #: some units of a fulfillment order: ``fulfillment_order_line_items``).
    fo_sent: dict[int, int] = field(default_factory=dict)
    #: fulfillment order id -> (the id of the fulfillment order its unfulfilled units were
    #: moved into, that one's location, its line item id -> units left then): a move of a
    #: fulfillment order some of whose units were fulfilled (``move.json``).
    fo_split: dict[int, tuple[int, int, dict[int, int]]] = field(default_factory=dict)
    #: fulfillment id -> (fulfillment order id, its line item id, units) it sent (a cancel
    #: gives them back).
    fulfilled_units: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)
    webhooks: Webhooks = field(init=False)

    def __post_init__(self) -> None:
        self.webhooks = Webhooks(self.market)

    def add_shop(self, domain: str, token: str, secret: str) -> None:
        """A shop with our app installed: its token, and the app's secret (webhook HMACs)."""
        self.market.add_shop(domain, secret, token, domain)
        self.tokens[token] = domain
        self.webhooks.secrets[domain] = secret

    def reauthorise(self, token: str, new_token: str, expires_in: float | None = None) -> None:
        """The merchant installed the app again (or the app refreshed an expiring token): a
        new access token for the same shop; the old one is a 401 from now on."""
        self.market.reauthorise(token, new_token, expires_in)
        self.tokens[new_token] = self.tokens.pop(token)

    # --- HTTP ------------------------------------------------------------------------------

    def handle(self, verb: str, path: str, query: str, token: str, raw: bytes, base: str) -> Reply:
        """One Admin API call; ``base`` is scheme and host, for the ``Link`` header. The caller
        holds the market's lock."""
        m = self.market
        m.calls += 1
        m.now += m.call_cost
        self.webhooks.collect(self.tokens.values())
        found = PATH.match(path)
        if found is None:
            return _json(404, {"errors": "Not Found"})
        domain = self.tokens.get(token)
        shop = m.shops.get(token)
        if domain is None or shop is None or shop.refused(m.now) is not None:
            return _json(401, {"errors": BAD_TOKEN})
        limit_header = self._bucket(token)
        if limit_header is None:
            wait = [] if m.rng.random() < m.faults.rate_limit_silent else [("Retry-After", "2.0")]
            return _json(429, {"errors": THROTTLED}, wait)
        if m.rng.random() < m.faults.html:
            return 502, [("Content-Type", "text/html")], HTML_502
        if m.rng.random() < m.faults.isp_error:
            return _json(503, {"errors": "Service Unavailable"}, [limit_header])
        rest = found["rest"]
        try:
            if rest == "orders.json" and verb == "GET":
                q = parse_qsl(query, keep_blank_values=True)
                reply = self._orders(domain, q, f"{base}/admin/api/{found['version']}/orders.json")
            elif rest == "fulfillments.json" and verb == "POST":
                reply = self._fulfil(domain, raw)
            elif (cn := CANCEL.match(rest)) and verb == "POST":
                reply = _ok({"fulfillment": fulfilments.cancel(self, domain, int(cn["id"]))})
            elif (mv := MOVE.match(rest)) and verb == "POST":
                reply = self._move(domain, int(mv["id"]), raw)
            elif (o := ORDER.match(rest)) and verb == "GET":
                reply = self._order(domain, int(o["id"]), o["sub"] or "")
            elif (one := ONE_FO.match(rest)) and verb == "GET":
                reply = _ok({"fulfillment_order": self._fo(domain, int(one["id"]))[0]})
            elif (
                hooked := self.webhooks.subscriptions.handle(
                    domain, verb, rest, query, raw, iso(m.now)
                )
            ) is not None:
                reply = _json(*hooked)
            elif (stocked := inventory.handle(m, domain, verb, rest, query, raw)) is not None:
                _, answer, lost = stocked
                if lost:  # written; the answer is lost (push_timeout)
                    return 504, [("Content-Type", "text/html")], HTML_504
                reply = _ok(answer)
            else:
                raise ApiError(404, "Not Found")
        except (inventory.Refusal, SubscriptionError) as err:
            return _json(err.status, {"errors": err.errors}, [limit_header])
        except ApiError as err:
            return _json(err.status, {"errors": err.errors}, [limit_header, *err.headers])
        except fulfilments.CancelRefused as err:
            return _json(err.status, {"errors": err.errors}, [limit_header])
        status, headers, body = reply
        return status, [limit_header, *headers], body

    def _bucket(self, token: str) -> tuple[str, str] | None:
        m = self.market
        b = self.buckets.setdefault(token, Bucket(0.0, m.now))
        b.level, b.at = max(0.0, b.level - (m.now - b.at) * LEAK), m.now
        if m.rng.random() < m.faults.rate_limit:
            b.level = BUCKET  # another app of the shop spent the bucket
        if b.level + 1 > BUCKET:
            return None
        b.level += 1
        return "X-Shopify-Shop-Api-Call-Limit", f"{int(b.level + 0.999)}/{int(BUCKET)}"

    # --- orders ------------------------------------------------------------------------------

    def _versions(self, domain: str, order_id: int) -> list[Version]:
        versions = self.market.trades.get(order_id)
        if not versions or versions[0].trade["seller_nick"] != domain:
            raise ApiError(404, "Not Found")
        return versions

    def _orders(self, domain: str, q: list[tuple[str, str]], url: str) -> Reply:
        params = dict(q)
        limit = _limit(params.get("limit", ""))
        fields = params.get("fields", "")
        if "page_info" in params:
            extra = sorted(set(params) - {"page_info", "limit", "fields"})
            if extra:
                raise ApiError(
                    400, {"page_info": [f"page_info cannot be used with {', '.join(extra)}"]}
                )
            cursor = _cursor(params["page_info"])
            filters, after, before = cursor["f"], cursor.get("after"), cursor.get("before")
        else:
            status = params.get("status", "open")
            if status not in ("open", "closed", "cancelled", "any"):
                raise ApiError(400, {"status": ["is not open, closed, cancelled or any"]})
            filters = {"status": status}
            for name in ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max"):
                if name in params:
                    filters[name] = _time(name, params[name])
            after = before = None
        rows = self._window(domain, filters)
        if rows and self.market.rng.random() < self.market.faults.change_between_pages:
            victim = self.market.rng.choice(rows)
            if victim["financial_status"] in ("pending", "paid") and not victim["closed_at"]:
                self.market.change(victim["id"], "modify", seller_memo="changed between pages")
                rows = self._window(domain, filters)
        rows.sort(key=lambda o: o["id"], reverse=True)  # newest first (ids grow with time)
        if before is not None:
            page = [o for o in rows if o["id"] > before][-limit:]
        else:
            page = [o for o in rows if after is None or o["id"] < after][:limit]
        links = []
        if page and any(o["id"] < page[-1]["id"] for o in rows):
            nxt = _page_info({"f": filters, "after": page[-1]["id"]})
            links.append(f'<{url}?{urlencode({"limit": limit, "page_info": nxt})}>; rel="next"')
        paged = after is not None or before is not None
        if page and paged and any(o["id"] > page[0]["id"] for o in rows):
            prv = _page_info({"f": filters, "before": page[0]["id"]})
            links.insert(
                0, f'<{url}?{urlencode({"limit": limit, "page_info": prv})}>; rel="previous"'
            )
        wanted = {f.strip() for f in fields.split(",") if f.strip()}
        body = [{k: v for k, v in o.items() if not wanted or k in wanted} for o in page]
        headers = [("Link", ", ".join(links))] if links else []
        return _ok({"orders": body}, headers)

    def _window(self, domain: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """What the orders index shows now (late indexing applies, as to Taobao's)."""
        out = []
        done = refunds_done(self.market)
        for t in self.market.indexed(domain):
            created = parse_text(t["created"]) or 0
            order = order_json(t, t["_modified"], created, done)
            if not status_matches(order, filters["status"]):
                continue
            if not (
                filters.get("updated_at_min", 0)
                <= t["_modified"]
                <= filters.get("updated_at_max", 1 << 40)
                and filters.get("created_at_min", 0)
                <= created
                <= filters.get("created_at_max", 1 << 40)
            ):
                continue
            out.append(order)
        return out

    def _order(self, domain: str, order_id: int, sub: str) -> Reply:
        versions = self._versions(domain, order_id)
        if sub == "/fulfillment_orders":
            return _ok({"fulfillment_orders": self._fulfillment_orders(domain, versions[-1].trade)})
        if sub == "/fulfillments":
            return _ok({"fulfillments": self.fulfillments.get(order_id, [])})
        trade = self.market.read_trade(order_id)  # sometimes a replica behind
        assert trade is not None
        modified = parse_text(trade["modified"]) or 0
        created = parse_text(trade["created"]) or 0
        done = refunds_done(self.market)
        return _ok({"order": order_json(trade, modified, created, done)})

    def _parts(self, domain: str, trade: dict[str, Any]) -> list[tuple[int, list[Any]]]:
        """Where the order's units were taken from: (location, [(line, quantity)]) per
        location, in the shop's priority order. The stock log's sales of the order say it
        (stock.py takes a sale from the locations in priority order); an order with none (a
        shop with one location, or not limited) is all at the shop's first active location."""
        active = [int(r["id"]) for r in inventory.locations(self.market, domain) if r["active"]]
        takes: dict[str, list[list[int]]] = {}
        for e in self.market.stock.log:
            if e["action"] == "sale" and e.get("tid") == trade["tid"] and "location" in e:
                takes.setdefault(e["sku"], []).append([int(e["location"]), -int(e["delta"])])
        lines = trade["orders"]["order"]
        if not takes:
            return [(active[0], [(ln, int(ln["num"])) for ln in lines])]
        at: dict[int, list[Any]] = {}
        for ln in lines:
            need, queue = int(ln["num"]), takes.get(ln["outer_sku_id"], [])
            while need > 0:
                if not queue:  # not taken from any location (cannot happen): the first
                    at.setdefault(active[0], []).append((ln, need))
                    break
                took = min(need, queue[0][1])
                at.setdefault(queue[0][0], []).append((ln, took))
                need -= took
                queue[0][1] -= took
                if queue[0][1] == 0:
                    queue.pop(0)
        rank = {loc: i for i, loc in enumerate(active)}
        return sorted(at.items(), key=lambda p: rank.get(p[0], len(rank)))

    def _fulfillment_orders(self, domain: str, trade: dict[str, Any]) -> list[dict[str, Any]]:
        """The order's fulfillment orders, one per location its units were taken from, each
        ``assigned_location_id`` that location (or where ``move.json`` moved it)."""
        status = {
            "WAIT_BUYER_PAY": "on_hold",
            "WAIT_SELLER_SEND_GOODS": "open",
            "WAIT_BUYER_CONFIRM_GOODS": "closed",
        }.get(trade["status"], "cancelled")
        tid = trade["tid"]
        out = []
        for k, (location, items) in enumerate(self._parts(domain, trade)):
            if k == 0:
                fo_id = tid + FO_OFFSET
            else:
                fo_id = self.fo_ids.setdefault((tid, k), SPLIT_FO + len(self.fo_ids) + 1)
            self.fo_orders[fo_id] = tid
            rows = [
                (ln["oid"] + FO_OFFSET if k == 0 else fo_id * 1000 + i, ln, qty)
                for i, (ln, qty) in enumerate(items)
            ]
            split = self.fo_split.get(fo_id)
            if split is not None:
                # Its unfulfilled units were moved into a fulfillment order of their own: it
                # keeps what was fulfilled of it, at its location, closed (below).
                rows = [(li_id, ln, qty - split[2].get(li_id, 0)) for li_id, ln, qty in rows]
            out.append(self._one_fo(fo_id, tid, status, self.moved.get(fo_id, location), rows))
            if split is not None:
                new_id, new_at, left = split
                self.fo_orders[new_id] = tid
                moved_rows = [
                    (new_id * 1000 + i, ln, left[li_id])
                    for i, (li_id, ln, _) in enumerate(rows)
                    if left.get(li_id, 0) > 0
                ]
                out.append(
                    self._one_fo(new_id, tid, status, self.moved.get(new_id, new_at), moved_rows)
                )
        return out

    def _one_fo(
        self, fo_id: int, tid: int, status: str, location: int, rows: list[tuple[int, Any, int]]
    ) -> dict[str, Any]:
        """One fulfillment order as ``fulfillment_orders.json`` shows it; ``rows``: (line item
        id, the order's line, quantity)."""
        st = "closed" if fo_id in self.fo_done else status
        if st == "open" and any(self.fo_sent.get(li_id) for li_id, _, _ in rows):
            st = "in_progress"  # some units fulfilled, the rest still to send
        return {
            "id": fo_id,
            "order_id": tid,
            "status": st,
            "assigned_location_id": location,
            "line_items": [
                {
                    "id": li_id,
                    "fulfillment_order_id": fo_id,
                    "line_item_id": ln["oid"],
                    "quantity": qty,
                    "fulfillable_quantity": (
                        qty - self.fo_sent.get(li_id, 0) if st in ("open", "in_progress") else 0
                    ),
                }
                for li_id, ln, qty in rows
            ],
        }

    def fulfillment_orders_of(self, domain: str, order_id: int) -> list[dict[str, Any]]:
        return self._fulfillment_orders(domain, self._versions(domain, order_id)[-1].trade)

    def _fo(self, domain: str, fo_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One fulfillment order and all of its order's (404 for one not of the shop)."""
        order_id = self.fo_orders.get(fo_id, fo_id - FO_OFFSET)
        if order_id not in self.market.trades:
            raise ApiError(404, "Not Found")
        fos = self._fulfillment_orders(domain, self._versions(domain, order_id)[-1].trade)
        found = next((fo for fo in fos if fo["id"] == fo_id), None)
        if found is None:
            raise ApiError(404, "Not Found")
        return found, fos

    def _move(self, domain: str, fo_id: int, raw: bytes) -> Reply:
        """``POST fulfillment_orders/{id}/move.json``: shopify/moves.py."""
        return moves.move(self, domain, fo_id, raw)

    def _fulfil(self, domain: str, raw: bytes) -> Reply:
        """``POST fulfillments.json`` (Admin REST "Fulfillment", create): each entry of
        ``line_items_by_fulfillment_order`` names a fulfillment order and, optionally, its
        ``fulfillment_order_line_items`` (``id``, ``quantity``) to send some units only;
        without them, all it has left. A quantity beyond what a line item has left to
        fulfil, or a line item not of that fulfillment order, is 422 and nothing is
        fulfilled; a fulfillment order with units left is ``in_progress``, then ``closed``
        when none are."""
        try:
            body = orjson.loads(raw)
            spec = body["fulfillment"]
            groups = spec["line_items_by_fulfillment_order"]
            tracking = spec.get("tracking_info") or {}
            fo_ids = [int(g["fulfillment_order_id"]) for g in groups]
            asked: list[dict[int, int] | None] = []
            for g in groups:
                rows = g.get("fulfillment_order_line_items")
                if rows is None:
                    asked.append(None)
                    continue
                want: dict[int, int] = {}
                for r in rows:
                    q = r["quantity"]
                    if isinstance(q, bool) or not isinstance(q, int):
                        raise TypeError(f"quantity {q!r}")
                    want[int(r["id"])] = want.get(int(r["id"]), 0) + q
                asked.append(want)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            why = f"Required parameter missing or invalid: {err}"
            raise ApiError(400, {"fulfillment": [why]}) from None
        if not fo_ids or len(set(fo_ids)) != len(fo_ids):
            raise ApiError(400, {"fulfillment": ["line_items_by_fulfillment_order is empty"]})
        named = [self._fo(domain, fo_id) for fo_id in fo_ids]
        all_fos = named[0][1]
        order_id = int(named[0][0]["order_id"])
        for fo, _ in named:
            if fo["status"] not in ("open", "in_progress"):
                raise ApiError(
                    422,
                    [f"Fulfillment order {fo['id']} has an unfulfillable status= {fo['status']}."],
                )
        # One fulfillment leaves from one place: fulfillment orders of one order, at one
        # location (the wording is ours).
        places = {(int(fo["order_id"]), fo["assigned_location_id"]) for fo, _ in named}
        if len(places) != 1:
            raise ApiError(
                422, ["All fulfillment orders of a fulfillment must be at the same location."]
            )
        # What each fulfillment order sends: (its line item row, units), all checked before
        # anything is written.
        sends: list[list[tuple[dict[str, Any], int]]] = []
        for (fo, _), wanted in zip(named, asked, strict=True):
            left = {int(li["id"]): li for li in fo["line_items"]}
            if wanted is None:
                part = [(li, int(li["fulfillable_quantity"])) for li in fo["line_items"]]
            else:
                if not wanted:
                    raise ApiError(400, {"fulfillment": ["fulfillment_order_line_items is empty"]})
                for li_id, q in wanted.items():
                    li = left.get(li_id)
                    if li is None:
                        raise ApiError(
                            422,
                            [
                                f"Fulfillment order line item {li_id} is not of fulfillment "
                                f"order {fo['id']}."
                            ],
                        )
                    if q <= 0 or q > int(li["fulfillable_quantity"]):
                        raise ApiError(
                            422,
                            [
                                f"Invalid fulfillment order line item quantity requested: "
                                f"{q} of line item {li_id}, which has "
                                f"{li['fulfillable_quantity']} left to fulfil."
                            ],
                        )
                part = [(left[li_id], q) for li_id, q in wanted.items()]
            sends.append([(li, q) for li, q in part if q > 0])
        if not any(sends):
            raise ApiError(422, ["There is nothing left to fulfil."])
        location = named[0][0]["assigned_location_id"]
        number, company = str(tracking.get("number") or ""), str(tracking.get("company") or "")
        m = self.market
        for (fo, _), part in zip(named, sends, strict=True):
            for li, q in part:
                self.fo_sent[int(li["id"])] = self.fo_sent.get(int(li["id"]), 0) + q
            if all(
                self.fo_sent.get(int(li["id"]), 0) >= int(li["quantity"]) for li in fo["line_items"]
            ):
                self.fo_done.add(int(fo["id"]))
            # The truth: which fulfillment order left from which location, with which parcel
            # and which units.
            m.confirmations.append(
                {
                    "tid": order_id,
                    "out_sid": number,
                    "company_code": company,
                    "at": m.now,
                    "location_id": location,
                    "fulfillment_order_id": int(fo["id"]),
                    "line_items": {int(li["line_item_id"]): q for li, q in part},
                }
            )
        # The order changes: its lines' units sent, shipped when all fulfillment orders are.
        fulfilments.record(self, order_id, all_fos, "fulfil", (number, company))
        made = {
            "id": (made_id := 7_000_000_000 + sum(len(f) for f in self.fulfillments.values())),
            "order_id": order_id,
            "status": "success",
            "tracking_company": company or None,
            "tracking_number": number or None,
            "tracking_numbers": [number] if number else [],
            "location_id": location,
            "line_items": [
                {"id": li["line_item_id"], "quantity": q} for part in sends for li, q in part
            ],
        }
        self.fulfillments.setdefault(order_id, []).append(made)
        self.fulfilled_units[made_id] = [
            (int(fo["id"]), int(li["id"]), q)
            for (fo, _), part in zip(named, sends, strict=True)
            for li, q in part
        ]
        if self.market.rng.random() < self.market.faults.ship_timeout:
            return 504, [("Content-Type", "text/html")], HTML_504  # stored; the answer is lost
        return (
            201,
            [("Content-Type", "application/json; charset=utf-8")],
            orjson.dumps({"fulfillment": made}),
        )


def _json(status: int, body: Any, headers: Headers | None = None) -> Reply:
    return (
        status,
        [("Content-Type", "application/json; charset=utf-8"), *(headers or [])],
        (orjson.dumps(body)),
    )


def _limit(text: str) -> int:
    if text == "":
        return 50
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, {"limit": [f"must be a whole number from 1 to {MAX_LIMIT}"]})
    return int(text)


def _time(name: str, text: str) -> int:
    from datetime import datetime

    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, {name: ["is not an ISO 8601 time"]}) from None
    if at.tzinfo is None:
        raise ApiError(400, {name: ["needs an offset"]})
    return int(at.timestamp()) + (1 if at.microsecond and name.endswith("_min") else 0)


def _page_info(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(cursor)).decode().rstrip("=")


def _cursor(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(value, dict) or not isinstance(value.get("f"), dict):
            raise ValueError
        return value
    except ValueError:
        raise ApiError(400, {"page_info": ["Invalid value."]}) from None
