"""Refunds (退款) on the simulated marketplace, and ``taobao.refunds.receive.get``.

A buyer asks for a line's money back, before shipping (``refund_phase`` ``onsale``) or after
(``aftersale``); the seller agrees (``SUCCESS``) or the buyer withdraws (``CLOSED``). As on
Taobao, the trade changes too: its line's ``refund_status`` follows the refund, and a trade
whose every line was refunded before shipping is closed (``TRADE_CLOSED``); each of those is
a new trade version (a new ``modified``).

``taobao.refunds.receive.get`` (the seller's received refunds; TOP API page of the method):
``fields``, ``status``, ``start_modified``/``end_modified``, ``page_no``, ``page_size`` ≤ 100,
``use_has_next``; answered as ``refunds_receive_get_response`` with ``total_results`` and
``refunds.refund[]``. Refund fields as the API names them: ``refund_id``, ``tid``, ``oid``,
``status`` (WAIT_SELLER_AGREE, WAIT_BUYER_RETURN_GOODS, WAIT_SELLER_CONFIRM_GOODS,
SELLER_REFUSE_BUYER, CLOSED, SUCCESS), ``refund_fee``, ``total_fee``, ``payment``,
``good_status``, ``has_good_return``, ``refund_phase``, ``created``, ``modified``, ...
Approximations: newest ``modified`` first and a span of at most one day, as the trade list
(the page does not say); like the trade list it reads a search index that may lag
(``late_index``) and, here, a replica that may be behind (``replica_lag``): an older version
can come after a newer one, which is what the hub's ``modified`` guard is for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from simulators.marketplace.clock import fmt, parse_text
from simulators.marketplace.market import Market, Shop
from simulators.marketplace.top import TopError, _int, _project, invalid

ACTIVE = (
    "WAIT_SELLER_AGREE",
    "WAIT_BUYER_RETURN_GOODS",
    "WAIT_SELLER_CONFIRM_GOODS",
    "SELLER_REFUSE_BUYER",
)
ENDED = ("SUCCESS", "CLOSED")
MAX_SPAN = 86_400


@dataclass
class RefundVersion:
    modified: int
    visible_at: float
    made_at: float
    refund: dict[str, Any]


@dataclass
class Refunds:
    """The refunds of one market; ``rate``: the share of buyer actions that are about refunds."""

    rate: float = 0.0
    versions: dict[int, list[RefundVersion]] = field(default_factory=dict)
    #: Truth: every refund change (refund_id, tid, oid, status, modified), in order.
    truth: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 0

    @classmethod
    def of(cls, market: Market) -> Refunds:
        desk = market.parts.get("refunds")
        if desk is None:
            desk = market.parts["refunds"] = cls(next_id=7_700_000_000_000 + market.seed * 100_000)
            market.actors.append(desk.act)
        assert isinstance(desk, Refunds)
        return desk

    # --- buyers ------------------------------------------------------------------------

    def act(self, market: Market) -> bool:
        if self.rate <= 0.0 or market.rng.random() >= self.rate:
            return False
        open_ = [r for r, vs in self.versions.items() if vs[-1].refund["status"] in ACTIVE]
        if open_ and market.rng.random() < 0.5:
            rid = market.rng.choice(sorted(open_))
            ended = "SUCCESS" if market.rng.random() < 0.6 else "CLOSED"
            self.settle(market, rid, ended)
            return True
        asked = [
            (tid, ln["oid"])
            for tid, vs in market.trades.items()
            if vs[-1].trade["status"] in ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS")
            for ln in vs[-1].trade["orders"]["order"]
            if ln.get("refund_status", "NO_REFUND") in ("NO_REFUND", "CLOSED")
        ]
        if not asked:
            return False
        tid, oid = market.rng.choice(asked)
        self.request(market, tid, oid)
        return True

    def request(self, market: Market, tid: int, oid: int) -> int:
        """The buyer asks for a line's money back."""
        trade = market.trades[tid][-1].trade
        line = next(ln for ln in trade["orders"]["order"] if ln["oid"] == oid)
        shipped = trade["status"] != "WAIT_SELLER_SEND_GOODS"
        self.next_id += 1
        rid = self.next_id
        fee = Decimal(str(line["payment"]).replace(",", ""))
        refund = {
            "refund_id": rid,
            "tid": tid,
            "oid": oid,
            "title": line.get("title", ""),
            "num": line["num"],
            "num_iid": line.get("num_iid"),
            "buyer_nick": trade["buyer_nick"],
            "seller_nick": trade["seller_nick"],
            "total_fee": str(line["total_fee"]),
            "payment": str(line["payment"]),
            "refund_fee": f"{fee:.2f}",
            "status": "WAIT_SELLER_AGREE",
            "order_status": trade["status"],
            "good_status": "BUYER_RECEIVED" if shipped else "BUYER_NOT_RECEIVED",
            "has_good_return": shipped,
            "refund_phase": "aftersale" if shipped else "onsale",
            "reason": market.rng.choice(["不想要了", "拍错了", "质量问题"]),
            "desc": "",
            "created": fmt(market.now),
            "refund_version": 1,
        }
        self.versions[rid] = []
        self._record(market, refund)
        self._line(market, tid, oid, rid, "WAIT_SELLER_AGREE", "refund")
        return rid

    def settle(self, market: Market, rid: int, status: str) -> None:
        """The seller agreed (``SUCCESS``) or the buyer withdrew (``CLOSED``)."""
        refund = {**self.versions[rid][-1].refund, "status": status}
        refund["refund_version"] = int(refund["refund_version"]) + 1
        self._record(market, refund)
        self._line(market, refund["tid"], refund["oid"], rid, status, f"refund_{status.lower()}")

    def _line(self, market: Market, tid: int, oid: int, rid: int, status: str, action: str) -> None:
        """The trade's line follows the refund (Order.refund_status, Order.refund_id)."""
        trade = market.trades[tid][-1].trade
        lines = [
            {**ln, "refund_status": status, "refund_id": rid} if ln["oid"] == oid else ln
            for ln in trade["orders"]["order"]
        ]
        fields: dict[str, Any] = {"orders": {"order": lines}}
        if trade["status"] == "WAIT_SELLER_SEND_GOODS" and all(
            ln["refund_status"] == "SUCCESS" for ln in lines
        ):
            # Every line refunded before shipping: Taobao closes the trade.
            market.change(tid, "refund_close", orders={"order": lines}, status="TRADE_CLOSED")
            return
        market.change(tid, action, **fields)

    def _record(self, market: Market, refund: dict[str, Any]) -> None:
        modified = int(market.now)
        refund["modified"] = fmt(modified)
        late = 0.0
        if market.rng.random() < market.faults.late_index:
            late = market.rng.uniform(0.0, market.faults.late_index_max)
        rid = refund["refund_id"]
        self.versions[rid].append(RefundVersion(modified, market.now + late, market.now, refund))
        self.truth.append(
            {
                "refund_id": rid,
                "tid": refund["tid"],
                "oid": refund["oid"],
                "status": refund["status"],
                "phase": refund["refund_phase"],
                "modified": modified,
            }
        )
        for listen in market.listeners:
            listen(market, refund["tid"], f"refund:{refund['status']}", refund)

    # --- what the API sees ---------------------------------------------------------------

    def listed(self, market: Market, seller_nick: str) -> list[dict[str, Any]]:
        """Per refund, the newest version the index shows, sometimes as a lagging replica has
        it (an older version after a newer one)."""
        out = []
        lag = (
            market.now - market.rng.uniform(0.0, market.faults.replica_lag_max)
            if market.rng.random() < market.faults.replica_lag
            else market.now
        )
        for vs in self.versions.values():
            if vs[0].refund["seller_nick"] != seller_nick:
                continue
            seen = [v for v in vs if v.visible_at <= market.now and v.made_at <= lag]
            if seen:
                out.append({**seen[-1].refund, "_modified": seen[-1].modified})
        return out

    def final(self) -> dict[int, dict[str, Any]]:
        return {rid: vs[-1].refund for rid, vs in self.versions.items()}


def receive_get(market: Market, shop: Shop, params: dict[str, str]) -> dict[str, Any]:
    """taobao.refunds.receive.get: the seller's refunds by ``modified``, newest first."""
    start = parse_text(params.get("start_modified", ""))
    end = parse_text(params.get("end_modified", ""))
    if start is None or end is None:
        raise invalid("start_modified", "start_modified and end_modified are required")
    if end < start or end - start > MAX_SPAN:
        raise invalid("end_modified", "the span must be between 0 seconds and one day")
    status = params.get("status", "")
    if status and status not in ACTIVE + ENDED:
        raise TopError(41, "Invalid Arguments", "isv.invalid-parameter:status", status)
    rows = [
        r
        for r in Refunds.of(market).listed(market, shop.seller_nick)
        if start <= r["_modified"] <= end and (not status or r["status"] == status)
    ]
    page_no = _int(params, "page_no", 1, 1, 1_000_000)
    page_size = _int(params, "page_size", 40, 1, 100)
    rows.sort(key=lambda r: (r["_modified"], r["refund_id"]), reverse=True)
    chunk = rows[(page_no - 1) * page_size : page_no * page_size]
    out: dict[str, Any] = {}
    if params.get("use_has_next") == "true":
        out["has_next"] = page_no * page_size < len(rows)
    else:
        out["total_results"] = len(rows)
    if chunk:
        fields = params.get("fields", "")
        out["refunds"] = {"refund": [_project(r, fields) for r in chunk]}
    return out


METHODS = {"taobao.refunds.receive.get": receive_get}
