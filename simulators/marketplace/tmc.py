"""TMC (淘宝消息服务) on the simulated marketplace: ``taobao.tmc.messages.consume`` and
``taobao.tmc.messages.confirm``.

Every trade or refund change publishes a message (``topic``, ``content`` as a JSON *string*,
``id``, ``pub_time``, ``user_nick``). Delivery is at least once, as the TMC pages say: a
message consumed and not confirmed comes again after ``redeliver_s``; messages are kept 24 h,
then dropped confirmed or not. Faults (``Tmc.duplicate`` / ``reorder`` / ``drop``): a message
delivered twice in one batch, a batch out of order, a message never delivered at all (which
is why the hub keeps polling).

Answers: ``tmc_messages_consume_response`` with ``messages.tmc_message[]`` (left out when
empty), ``tmc_messages_confirm_response`` with ``is_success``. Approximation: real TMC is per
app (no session; one consumer group for all the app's sellers); here a shop's session is
required and a consume returns that seller's messages only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from simulators.marketplace.clock import fmt
from simulators.marketplace.market import Market, Shop
from simulators.marketplace.top import _int, invalid

KEEP_S = 86_400.0  # "消息在服务端保存 24 小时"
TOPICS = {
    "place": "taobao_trade_TradeCreate",
    "pay": "taobao_trade_TradeBuyerPay",
    "cancel": "taobao_trade_TradeClose",
    "refund_close": "taobao_trade_TradeClose",
    "ship": "taobao_trade_TradeSellerShip",
    "modify": "taobao_trade_TradeChanged",
    "touch": "taobao_trade_TradeChanged",
    "refund": "taobao_refund_RefundCreated",
    "refund_success": "taobao_refund_RefundSuccess",
    "refund_closed": "taobao_refund_RefundClosed",
}


@dataclass
class Message:
    id: int
    topic: str
    content: str
    pub_time: float
    user_nick: str
    visible_at: float = 0.0
    confirmed: bool = False


@dataclass
class Tmc:
    duplicate: float = 0.0
    reorder: float = 0.0
    drop: float = 0.0
    redeliver_s: float = 60.0
    queue: list[Message] = field(default_factory=list)
    published: int = 0
    dropped: int = 0
    next_id: int = 0

    @classmethod
    def of(cls, market: Market) -> Tmc:
        tmc = market.parts.get("tmc")
        if tmc is None:
            tmc = market.parts["tmc"] = cls(next_id=9_100_000_000 + market.seed * 1_000_000)
            market.listeners.append(tmc.publish)
        assert isinstance(tmc, Tmc)
        return tmc

    def publish(self, market: Market, tid: int, action: str, body: dict[str, Any]) -> None:
        if action.startswith("refund:"):
            return  # the refund's trade version publishes (refund, refund_success, ...)
        topic = TOPICS.get(action, "taobao_trade_TradeChanged")
        self.published += 1
        self.next_id += 1
        if market.rng.random() < self.drop:
            self.dropped += 1
            return
        content = {
            "tid": tid,
            "seller_nick": body["seller_nick"],
            "buyer_nick": body.get("buyer_nick", ""),
            "status": body.get("status", ""),
            "payment": str(body.get("payment", "")),
        }
        self.queue.append(
            Message(
                self.next_id,
                topic,
                json.dumps(content, ensure_ascii=False),
                market.now,
                body["seller_nick"],
                visible_at=market.now,
            )
        )

    def consume(self, market: Market, nick: str, quantity: int) -> list[Message]:
        self.queue = [m for m in self.queue if market.now - m.pub_time <= KEEP_S]
        batch = [
            m
            for m in self.queue
            if m.user_nick == nick and not m.confirmed and m.visible_at <= market.now
        ][:quantity]
        for m in batch:  # not confirmed in time: delivered again
            m.visible_at = market.now + self.redeliver_s
        out = list(batch)
        for m in batch:
            if market.rng.random() < self.duplicate:
                out.insert(market.rng.randint(0, len(out)), m)
        if len(out) > 1 and market.rng.random() < self.reorder:
            market.rng.shuffle(out)
        return out

    def confirm(self, ids: set[int]) -> None:
        for m in self.queue:
            if m.id in ids:
                m.confirmed = True

    def unconfirmed(self) -> int:
        return sum(1 for m in self.queue if not m.confirmed)


def _ids(text: str) -> set[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise invalid("s_message_ids", "message ids are numbers, comma separated")
    return {int(p) for p in parts}


def consume(market: Market, shop: Shop, params: dict[str, str]) -> dict[str, Any]:
    quantity = _int(params, "quantity", 100, 1, 200)
    batch = Tmc.of(market).consume(market, shop.seller_nick, quantity)
    if not batch:
        return {}
    return {
        "messages": {
            "tmc_message": [
                {
                    "id": m.id,
                    "topic": m.topic,
                    "content": m.content,
                    "pub_time": fmt(m.pub_time),
                    "outgoing_time": fmt(market.now),
                    "user_nick": m.user_nick,
                    "pub_app_key": "12497914",
                }
                for m in batch
            ]
        }
    }


def confirm(market: Market, shop: Shop, params: dict[str, str]) -> dict[str, Any]:
    Tmc.of(market).confirm(_ids(params.get("s_message_ids", "")))
    return {"is_success": True}


METHODS = {"taobao.tmc.messages.consume": consume, "taobao.tmc.messages.confirm": confirm}
