"""Webhook subscriptions through the Admin REST API: ``webhooks.json`` and ``webhooks/{id}.json``.

Shape (shopify.dev, Admin REST "Webhook"):
- ``GET webhooks.json`` lists the app's subscriptions on the shop (``topic`` and ``address``
  filter them): ``{"webhooks": [{"id", "address", "topic", "format", "created_at",
  "updated_at", "fields", "metafield_namespaces", "api_version"}]}``;
- ``POST webhooks.json`` ``{"webhook": {"topic", "address", "format": "json"}}`` makes one:
  201 ``{"webhook": {...}}``; a topic Shopify does not have is 422 ``{"errors": {"topic":
  ["Invalid topic specified: …"]}}``, the same topic and address again is 422 ``{"errors":
  {"address": ["for this topic has already been taken"]}}``, an address that is not
  ``https://`` (or ``http://`` here: the tests' hubs listen on loopback) a 422 on address;
- ``DELETE webhooks/{id}.json``: 200 ``{}``; another shop's or an unknown id is 404.

The simulator delivers each event of a topic to every address subscribed to it
(webhooks.py); the control plane's ``/_sim/shopify/webhooks`` address (every topic) stays for
tests written before this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

#: The topics this simulator sends (Admin REST "Webhook", event topics).
TOPICS = frozenset(
    {"orders/create", "orders/updated", "refunds/create", "fulfillment_orders/moved"}
)
ONE = re.compile(r"^webhooks/(?P<id>\d+)\.json$")


class SubscriptionError(Exception):
    def __init__(self, status: int, errors: Any) -> None:
        super().__init__(str(errors))
        self.status, self.errors = status, errors


@dataclass
class Subscriptions:
    """Per shop domain, its subscriptions in the order they were made."""

    by_domain: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 1_050_000_000

    def addresses(self, domain: str, topic: str) -> list[str]:
        return [w["address"] for w in self.by_domain.get(domain, []) if w["topic"] == topic]

    def domains(self) -> set[str]:
        return {d for d, rows in self.by_domain.items() if rows}

    def handle(
        self, domain: str, verb: str, rest: str, query: str, raw: bytes, at: str
    ) -> tuple[int, Any] | None:
        """The answer (status, body) to a call on ``webhooks…``; None for another path."""
        rows = self.by_domain.setdefault(domain, [])
        if rest == "webhooks.json" and verb == "GET":
            q = dict(parse_qsl(query))
            return 200, {
                "webhooks": [
                    w
                    for w in rows
                    if q.get("topic", w["topic"]) == w["topic"]
                    and q.get("address", w["address"]) == w["address"]
                ]
            }
        if rest == "webhooks.json" and verb == "POST":
            return 201, {"webhook": self._make(rows, raw, at)}
        one = ONE.match(rest)
        if one and verb == "DELETE":
            found = next((w for w in rows if w["id"] == int(one["id"])), None)
            if found is None:
                raise SubscriptionError(404, "Not Found")
            rows.remove(found)
            return 200, {}
        if one and verb == "GET":
            found = next((w for w in rows if w["id"] == int(one["id"])), None)
            if found is None:
                raise SubscriptionError(404, "Not Found")
            return 200, {"webhook": found}
        return None

    def _make(self, rows: list[dict[str, Any]], raw: bytes, at: str) -> dict[str, Any]:
        try:
            spec = orjson.loads(raw)["webhook"]
            topic, address = str(spec["topic"]), str(spec["address"])
        except (ValueError, KeyError, TypeError):
            raise SubscriptionError(
                400, {"webhook": "Required parameter missing or invalid"}
            ) from None
        if topic not in TOPICS:
            raise SubscriptionError(422, {"topic": [f"Invalid topic specified: {topic}"]})
        if not address.startswith(("https://", "http://")):
            raise SubscriptionError(422, {"address": ["is not a valid URL"]})
        if any(w["topic"] == topic and w["address"] == address for w in rows):
            raise SubscriptionError(422, {"address": ["for this topic has already been taken"]})
        self.next_id += 1
        made = {
            "id": self.next_id,
            "address": address,
            "topic": topic,
            "created_at": at,
            "updated_at": at,
            "format": str(spec.get("format") or "json"),
            "fields": [],
            "metafield_namespaces": [],
            "api_version": "2024-10",
        }
        rows.append(made)
        return made
