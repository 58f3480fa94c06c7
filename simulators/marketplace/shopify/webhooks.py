"""Shopify's webhooks (orders/create, orders/updated, refunds/create, fulfillment_orders/moved)
from the marketplace world.

Each event goes to every address subscribed to its topic through ``webhooks.json``
(subscriptions.py), and to the control plane's address of the shop (every topic) if one
was set (``/_sim/shopify/webhooks``, kept for the tests written before the API).

``fulfillment_orders/moved`` (Admin REST "Webhook", event topics; the payload as the
``FulfillmentOrdersMove`` webhook has it since 2023-04) is sent when a fulfillment order is
moved (``move.json``): ``original_fulfillment_order`` and ``moved_fulfillment_order`` (``id``,
``status``, ``assigned_location_id``, as global ids ``gid://shopify/…``),
``destination_location_id``, ``fulfillment_order_line_items_requested`` (``id``,
``quantity``) and ``source_location`` (``id``): the whole fulfillment order moves here, so the
original and the moved one are the same fulfillment order, now at the destination.

``refunds/create`` carries the Refund itself (Admin REST "Refund", as in the order's
``refunds[]``: simulators/marketplace/shopify/shape.py ``refunds_json``), sent once a refund of
the world is done, with the same headers and faults as the order topics.

Shape (shopify.dev "About webhooks", "Verify webhooks", "Webhook best practices"): a POST of
the order's JSON to the registered address with ``X-Shopify-Topic``, ``X-Shopify-Shop-Domain``,
``X-Shopify-Event-Id`` (the same on every delivery of one event), ``X-Shopify-Webhook-Id``,
``X-Shopify-Triggered-At``, ``X-Shopify-API-Version`` and ``X-Shopify-Hmac-Sha256``: the
base64 HMAC-SHA256 of the raw body keyed with the app's secret. An answer other than 2xx is
retried with the original payload, 8 times over about 4 hours, then dropped. Shopify says
webhooks may come twice, out of order or not at all: apps are to reconcile.

Faults (:class:`WebhookFaults`): duplicates, reordering, drops, and deliveries held back (a
retry hours later carries the payload of an old version).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from simulators.marketplace.clock import parse_text
from simulators.marketplace.market import Market
from simulators.marketplace.shopify.shape import iso, order_json, refunds_done, refunds_json
from simulators.marketplace.shopify.subscriptions import Subscriptions

#: Seconds between Shopify's tries (8 over about 4 hours).
RETRIES = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0)

Post = Callable[[str, dict[str, str], bytes], int]


@dataclass
class WebhookFaults:
    duplicate: float = 0.0  # an event delivered again later (same id, same body)
    reorder: float = 0.0  # due events sent in a shuffled order
    drop: float = 0.0  # an event never sent
    delay: float = 0.0  # an event held back ...
    delay_max: float = 0.0  # ... by up to this many seconds

    @classmethod
    def seeded(cls, seed: int) -> WebhookFaults:
        r = random.Random(seed * 7919 + 1)
        return cls(
            duplicate=r.uniform(0.0, 0.4),
            reorder=r.uniform(0.0, 1.0),
            drop=r.uniform(0.0, 0.3),
            delay=r.uniform(0.0, 0.4),
            delay_max=r.choice([60.0, 900.0, 7200.0]),
        )


@dataclass
class Event:
    event_id: str
    topic: str
    domain: str
    order_id: int
    modified: int
    body: bytes
    triggered_at: float
    next_at: float
    #: Where it goes: a subscription's address (or the control plane's).
    address: str = ""
    attempts: int = 0


def gid(kind: str, number: int) -> str:
    """A global id as webhook payloads of the fulfillment topics carry them."""
    return f"gid://shopify/{kind}/{number}"


def hmac_b64(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Webhooks:
    market: Market
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    secrets: dict[str, str] = field(default_factory=dict)
    #: The control plane's address per shop domain: every topic goes there.
    addresses: dict[str, str] = field(default_factory=dict)
    #: The subscriptions made through ``webhooks.json``.
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    queue: list[Event] = field(default_factory=list)
    #: Truth: every delivery attempt (event id, order id, modified, answer status).
    log: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    _seen: dict[int, int] = field(default_factory=dict)
    _refunds_seen: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.market.seed + 1_000_003)

    def targets(self, domain: str, topic: str) -> list[str]:
        """The addresses an event of ``topic`` of the shop goes to."""
        out = [self.addresses[domain]] if domain in self.addresses else []
        return out + [a for a in self.subscriptions.addresses(domain, topic) if a not in out]

    def collect(self, domains: Iterable[str]) -> None:
        """An event for every version made since the last look, of shops with an address."""
        wanted = {d for d in domains if d in self.addresses or d in self.subscriptions.domains()}
        if not wanted:
            return
        done = refunds_done(self.market)
        for tid, versions in self.market.trades.items():
            domain = versions[0].trade["seller_nick"]
            if domain not in wanted or self._seen.get(tid, 0) == len(versions):
                continue
            for n in range(self._seen.get(tid, 0), len(versions)):
                v = versions[n]
                topic = "orders/create" if n == 0 else "orders/updated"
                targets = self.targets(domain, topic)
                if not targets:
                    continue
                created = parse_text(v.trade["created"]) or v.modified
                body = orjson.dumps(order_json(v.trade, v.modified, created, done))
                for address in targets:
                    if self.rng.random() < self.faults.drop:
                        self.dropped += 1
                        continue
                    late = 0.0
                    if self.rng.random() < self.faults.delay:
                        late = self.rng.uniform(0.0, self.faults.delay_max)
                    self.queue.append(
                        Event(
                            str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                            topic,
                            domain,
                            tid,
                            v.modified,
                            body,
                            v.made_at,
                            v.made_at + late,
                            address,
                        )
                    )
            self._seen[tid] = len(versions)
        for rid, refund in done.items():
            tid = int(refund["tid"])
            history = self.market.trades.get(tid)
            if rid in self._refunds_seen or not history:
                continue
            domain = history[0].trade["seller_nick"]
            if domain not in wanted:
                continue
            self._refunds_seen.add(rid)
            made = [r for r in refunds_json(history[-1].trade, done) if r["id"] == rid]
            for address in self.targets(domain, "refunds/create"):
                if not made or self.rng.random() < self.faults.drop:
                    self.dropped += int(bool(made))
                    continue
                at = float(refund["_modified"])
                self.queue.append(
                    Event(
                        str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                        "refunds/create",
                        domain,
                        tid,
                        int(at),
                        orjson.dumps(made[0]),
                        at,
                        at,
                        address,
                    )
                )

    def moved(
        self, domain: str, order_id: int, fo: dict[str, Any], source: int, destination: int
    ) -> None:
        """A ``fulfillment_orders/moved`` event: ``fo`` (as ``fulfillment_orders.json`` shows
        it, after the move) moved from location ``source`` to ``destination``."""
        targets = self.targets(domain, "fulfillment_orders/moved")
        if not targets:
            return
        now = self.market.now
        after = {
            "id": gid("FulfillmentOrder", fo["id"]),
            "status": fo["status"],
            "assigned_location_id": gid("Location", destination),
        }
        body = orjson.dumps(
            {
                "original_fulfillment_order": after,
                "moved_fulfillment_order": after,
                "destination_location_id": gid("Location", destination),
                "fulfillment_order_line_items_requested": [
                    {"id": gid("FulfillmentOrderLineItem", li["id"]), "quantity": li["quantity"]}
                    for li in fo["line_items"]
                ],
                "source_location": {"id": gid("Location", source)},
            }
        )
        for address in targets:
            if self.rng.random() < self.faults.drop:
                self.dropped += 1
                continue
            self.queue.append(
                Event(
                    str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                    "fulfillment_orders/moved",
                    domain,
                    order_id,
                    int(now),
                    body,
                    now,
                    now,
                    address,
                )
            )

    def headers(self, event: Event) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": event.topic,
            "X-Shopify-Shop-Domain": event.domain,
            "X-Shopify-Event-Id": event.event_id,
            "X-Shopify-Webhook-Id": str(uuid.uuid5(uuid.NAMESPACE_URL, event.event_id)),
            "X-Shopify-Triggered-At": iso(event.triggered_at).replace("+00:00", "Z"),
            "X-Shopify-API-Version": "2024-10",
            "X-Shopify-Hmac-Sha256": hmac_b64(self.secrets[event.domain], event.body),
        }

    def deliver(self, post: Post) -> int:
        """Send every due event once (retries and duplicates stay queued); how many sent."""
        self.collect(self.secrets)
        now = self.market.now
        due = [e for e in self.queue if e.next_at <= now]
        if self.rng.random() < self.faults.reorder:
            self.rng.shuffle(due)
        else:
            due.sort(key=lambda e: e.next_at)
        for event in due:
            status = post(event.address, self.headers(event), event.body)
            self.log.append(
                {
                    "event_id": event.event_id,
                    "order_id": event.order_id,
                    "modified": event.modified,
                    "status": status,
                }
            )
            event.attempts += 1
            if 200 <= status < 300:
                if self.rng.random() < self.faults.duplicate:
                    event.next_at = now + self.rng.uniform(1.0, 600.0)  # sent again later
                    continue
                self.queue.remove(event)
            elif event.attempts > len(RETRIES):
                self.queue.remove(event)
                self.dropped += 1
            else:
                event.next_at = now + RETRIES[event.attempts - 1]
        return len(due)
