"""The marketplace's state: shops, trades with every version, buyers on a virtual clock, the
seeded fault schedule and the ground-truth log.

Every change to a trade is a new *version* stamped with ``modified`` (whole seconds, as TOP
stores it). What the list APIs see is a search index that, like the real one, may lag: a
version becomes visible at ``visible_at`` (late indexing, up to ``late_index_max`` seconds after
``modified``). ``taobao.trade.fullinfo.get`` reads the trade itself, but sometimes from a replica
that is up to ``replica_lag_max`` seconds behind. The truth log records every version the moment
it is made, whatever any API shows.
"""

from __future__ import annotations

import bisect
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from simulators.marketplace.clock import fmt
from simulators.marketplace.stock import ChannelStock

#: Trade types TOP returns when a call names none (a subset of the documented default list).
#: GB 32100-2015: the unified social credit code's characters and check weights.
_USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(first17: str) -> str:
    """``first17`` and its check character: a unified social credit code that checks."""
    total = sum(_USCC.index(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + _USCC[(31 - total % 31) % 31]


def invoice_request(tid: int) -> dict[str, str]:
    """The buyer's invoice request a trade carries, the way Taobao's trade does: the title
    (``invoice_name``, 发票抬头), the kind (``invoice_kind``: 1 electronic, 2 paper, 3 special)
    and a company's taxpayer number (``payer_register_no``, as Alibaba's invoice platform
    names it). Decided by the trade id, not drawn from the generator, so every seed's
    schedule stays what it was: one trade in ten asks for a company invoice, one in ten for
    a personal one (个人, no number); one company in five has a number that fails its check."""
    if tid % 10 == 3:
        number = uscc(f"91330100MA2{tid % 1_000_000:06d}")
        if tid % 50 == 13:
            number = number[:-1] + ("1" if number[-1] != "1" else "2")  # a typo: check fails
        return {
            "invoice_name": f"杭州测试{tid % 1000:03d}科技有限公司",
            "invoice_kind": "1",
            "payer_register_no": number,
        }
    if tid % 10 == 7:
        return {"invoice_name": "个人", "invoice_kind": "1", "payer_register_no": ""}
    return {}


DEFAULT_TYPES = (
    "fixed",
    "auction",
    "guarantee_trade",
    "step",
    "independent_simple_trade",
    "independent_shop_trade",
    "auto_delivery",
    "ec",
    "cod",
    "game_equipment",
    "shopex_trade",
    "netcn_trade",
    "external_trade",
    "instant_trade",
    "b2c_cod",
)
#: Types a call sees only when it names them in ``type`` (the cause of "invisible" orders).
NON_DEFAULT_TYPES = ("tmall_i18n", "eticket", "o2o_offlinetrade", "nopaid")

OPEN = ("WAIT_BUYER_PAY", "WAIT_SELLER_SEND_GOODS")
#: A city and district of each province the buyers live in (addresses a courier can read).
PLACES = {
    "浙江省": ("杭州市", "西湖区"),
    "湖南省": ("长沙市", "岳麓区"),
    "广东省": ("广州市", "天河区"),
}
START = 1_794_326_400.0  # 2026-11-11 00:00:00 GMT+8, Double 11


@dataclass
class Faults:
    """Probabilities (per call or per event) and bounds of the seeded fault schedule."""

    rate_limit: float = 0.0  # a call is refused with code 7 (and a ban starts)
    rate_limit_silent: float = 0.5  # ... of which without "ban will last N more seconds"
    isp_error: float = 0.0  # code 15 with an isp.* sub_code (retryable)
    html: float = 0.0  # the front answers an HTML error page instead of JSON
    late_index: float = 0.0  # a version reaches the search index late ...
    late_index_max: float = 0.0  # ... by up to this many seconds
    replica_lag: float = 0.0  # fullinfo.get is served by a lagging replica ...
    replica_lag_max: float = 0.0  # ... up to this many seconds behind
    change_between_pages: float = 0.0  # a list call makes a buyer change a trade of its window
    tie_burst: float = 0.0  # a placement is a burst of trades in the same second
    non_default_type: float = 0.0  # a new trade has a type outside the default list
    money_commas: float = 0.0  # prices written with thousands separators
    hostile_text: float = 0.0  # emoji and NUL in the nick and the remarks
    garbage_address: float = 0.0  # an address no courier can read
    unmapped_sku: float = 0.0  # a line whose outer_sku_id the seller never mapped
    same_second: float = 0.0  # a change is followed by another within the same second
    ship_timeout: float = 0.0  # logistics.offline.send commits, then its answer is lost (504)
    # A new trade the increment list never shows, in no version (sold.get and fullinfo.get
    # do): only a diff of the full id lists finds it (cloud/channels/diff.py). Not seeded.
    increment_hidden: float = 0.0
    waybill_timeout: float = 0.0  # cainiao.waybill.ii.get/cancel commits, the answer is lost
    # The increment list's ``total_results`` for a window counts fewer rows than its pages
    # hold (the index counts and lists in two steps): a client that trusts the count stops
    # one page or more short.
    lying_total: float = 0.0
    # A TOP call finds the shop's session key expired from this moment (the seller's
    # authorisation ran out): code 27 until the seller authorises again. Not seeded (every
    # harness would need a seller who re-authorises): tests set it.
    session_expiry: float = 0.0

    @classmethod
    def seeded(cls, seed: int) -> Faults:
        """A fault schedule drawn from ``seed``: each fault on or off, at a drawn rate."""
        r = random.Random(seed)

        def maybe(hi: float) -> float:
            return r.uniform(0.0, hi) if r.random() < 0.6 else 0.0

        return cls(
            rate_limit=maybe(0.15),
            rate_limit_silent=r.random(),
            isp_error=maybe(0.1),
            html=maybe(0.03),
            late_index=maybe(0.4),
            late_index_max=r.choice([60.0, 180.0, 300.0]),
            replica_lag=maybe(0.4),
            replica_lag_max=r.choice([10.0, 60.0, 300.0]),
            change_between_pages=maybe(0.6),
            tie_burst=maybe(0.3),
            non_default_type=maybe(0.2),
            money_commas=maybe(0.2),
            hostile_text=maybe(0.1),
            garbage_address=maybe(0.05),
            unmapped_sku=maybe(0.05),
            same_second=maybe(0.2),
            # Drawn last: the faults above stay what they were for every seed.
            ship_timeout=maybe(0.4),
            lying_total=maybe(0.4),
        )


@dataclass
class Shop:
    app_key: str
    secret: str
    session: str
    seller_nick: str
    revoked: bool = False
    #: The virtual moment the session key (a Shopify access token) stops working, or None.
    #: A TOP session key is granted for a limited time (the authorisation's ``expires_in``);
    #: past it every call is refused as an invalid session, as after a revocation.
    expires_at: float | None = None

    def refused(self, now: float) -> str | None:
        """Why the key no longer works ("revoked", "expired"), or None while it does."""
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return None


@dataclass
class Version:
    modified: int
    visible_at: float
    trade: dict[str, Any]
    #: When it was made, to the fraction of a second (``modified`` has whole seconds only).
    made_at: float = 0.0


@dataclass
class Market:
    """The whole marketplace; every method runs under ``lock`` (the server is threaded)."""

    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    now: float = START
    #: Seconds of virtual time each API call takes (pages are fetched at different times).
    call_cost: float = 0.2
    skus: tuple[str, ...] = ("SKU-A", "SKU-B", "SKU-C", "SKU-D")
    shops: dict[str, Shop] = field(default_factory=dict)
    #: Alipay app id → the app's RSA public key (PEM): requests of a registered app must be
    #: signed RSA2 (simulators/marketplace/bill.py); others are answered unsigned.
    alipay_keys: dict[str, bytes] = field(default_factory=dict)
    #: "Alipay's" own private key (PEM) that signs every gateway answer; made on first use
    #: (simulators/marketplace/bill.py platform_key), its public half served at
    #: ``GET /_sim/alipay-public-key``.
    alipay_platform_key: bytes | None = None
    #: WeChat Pay merchant number → (its API certificate's serial number, its public key
    #: PEM): API v3 requests must be signed with that key (simulators/marketplace/wechat_v3.py).
    wechat_keys: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    #: "WeChat Pay's" own private key (PEM) that signs every v3 answer; made on first use,
    #: its public half served at ``GET /_sim/wechatpay-public-key``.
    wechat_platform_key: bytes | None = None
    #: The simulated WeChat Pay's platform certificates (serial, key PEM, certificate PEM),
    #: oldest first: the newest signs; ``POST /_sim/wechat-rotate`` adds one.
    wechat_certs: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    #: The simulated WeChat Pay's CA (its key PEM, its certificate PEM) that issues those
    #: certificates, as Tenpay.com Root CA issues the real ones; made on first use, served
    #: at ``GET /_sim/wechatpay-ca`` and written by ``--wechatpay-ca-file``.
    wechat_ca: tuple[bytes, bytes] | None = None
    #: Each merchant's APIv3 key, when registered with one: its answers are then signed by
    #: the newest platform certificate, and ``/v3/certificates`` encrypts with the key.
    wechat_v3_keys: dict[str, bytes] = field(default_factory=dict)
    trades: dict[int, list[Version]] = field(default_factory=dict)
    truth: list[dict[str, Any]] = field(default_factory=list)
    ban_until: dict[str, float] = field(default_factory=dict)
    calls: int = 0
    #: Per shipped trade, the parcel number and courier it was shipped with.
    shipments: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Truth: every shipment the marketplace accepted (logistics.offline.send), in order.
    confirmations: list[dict[str, Any]] = field(default_factory=list)
    #: Truth: the parcels of trades shipped in parts (is_split, sub_tid), per trade in order.
    part_shipments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: logistics.offline.send calls that reached the method, per tid (accepted or refused).
    ship_calls: dict[int, int] = field(default_factory=dict)
    #: Trades the increment list never shows (the ``increment_hidden`` fault).
    hidden: set[int] = field(default_factory=set)
    #: Per (shop, window) how many rows the ``lying_total`` fault keeps out of the count.
    lies: dict[tuple[str, float, float], int] = field(default_factory=dict)
    #: Per seller, every version as (modified, tid) in time order (double11.window bisects it).
    log: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: A call quota per app and second (0 = none) and its use (double11.quota_check).
    calls_per_s: float = 0.0
    quota_used: dict[str, list[int]] = field(default_factory=dict)
    #: Other buyer actions (refunds.py): each may act instead of the usual buyer (True).
    actors: list[Callable[[Market], bool]] = field(default_factory=list)
    #: Told of every version recorded (tid, action, trade): tmc.py publishes messages.
    listeners: list[Callable[[Market, int, str, dict[str, Any]], None]] = field(
        default_factory=list
    )
    #: State of the parts kept in their own modules (refunds.py, tmc.py), by name.
    parts: dict[str, Any] = field(default_factory=dict)
    #: Stock on sale per SKU, what buyers' payments take (simulators/marketplace/stock.py).
    stock: ChannelStock = field(default_factory=ChannelStock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.lock = threading.RLock()
        self._next_tid = 3_900_000_000_000_000_000 + self.seed * 1_000_000
        self._next_oid = 0

    # --- shops and sessions ------------------------------------------------------------

    def add_shop(self, app_key: str, secret: str, session: str, seller_nick: str) -> Shop:
        shop = Shop(app_key, secret, session, seller_nick)
        self.shops[session] = shop
        return shop

    def expire(self, session: str, after: float = 0.0) -> None:
        """The shop's session key expires ``after`` seconds of virtual time from now (each
        API call takes ``call_cost``, so an expiry a few calls ahead lands mid-run)."""
        self.shops[session].expires_at = self.now + max(0.0, after)

    def reauthorise(self, session: str, new_session: str, expires_in: float | None = None) -> Shop:
        """The seller authorised the app again: a new key for the same seller (its trades stay
        its own); the old key is refused from now on."""
        shop = self.shops.pop(session)
        shop.session, shop.revoked = new_session, False
        shop.expires_at = None if expires_in is None else self.now + expires_in
        self.shops[new_session] = shop
        return shop

    def secret_of(self, app_key: str) -> str | None:
        return next((s.secret for s in self.shops.values() if s.app_key == app_key), None)

    # --- buyers --------------------------------------------------------------------------

    def advance(self, seconds: float, rate: float = 0.0) -> int:
        """Let ``seconds`` of virtual time pass with buyers acting ``rate`` times a second."""
        end = self.now + max(0.0, seconds)
        count = int(rate * seconds)
        if rate * seconds - count > self.rng.random():
            count += 1
        moments = sorted(self.rng.uniform(self.now, end) for _ in range(count))
        for at in moments:
            self.now = at
            self.buyer_acts()
        self.now = end
        return count

    def buyer_acts(self) -> None:
        if any(act(self) for act in self.actors):
            return
        open_tids = [t for t, vs in self.trades.items() if vs[-1].trade["status"] in OPEN]
        roll = self.rng.random()
        if not open_tids or roll < 0.4:
            burst = self.rng.randint(3, 12) if self.rng.random() < self.faults.tie_burst else 1
            for _ in range(burst):
                self.place()
            return
        tid = self.rng.choice(open_tids)
        status = self.trades[tid][-1].trade["status"]
        if roll < 0.7 and status == "WAIT_BUYER_PAY":
            if not self.stock.take(self, tid):  # 付款减库存: not enough on sale, not paid
                return
            self.change(tid, "pay", status="WAIT_SELLER_SEND_GOODS", pay_time=fmt(self.now))
        elif roll < 0.9:
            self.change(tid, "modify", buyer_message=self._remark(), **self._address())
        elif status == "WAIT_BUYER_PAY":
            self.change(tid, "cancel", status="TRADE_CLOSED_BY_TAOBAO")
        else:
            self.change(tid, "modify", seller_memo=f"memo {self.rng.randint(1, 999)}")

    def place(self) -> int:
        return self.place_for(None, None)

    def place_for(self, chosen: Shop | None, one_sku: str | None) -> int:
        """A new trade; with ``chosen`` and ``one_sku``, that shop's and one unit of that SKU."""
        shop = chosen or self.rng.choice(sorted(self.shops.values(), key=lambda s: s.session))
        tid = self._next_tid
        self._next_tid += 1
        non_default = self.rng.random() < self.faults.non_default_type
        lines = []
        for _ in range(1 if one_sku else self.rng.randint(1, 3)):
            self._next_oid += 1
            sku = one_sku or self.rng.choice(self.skus)
            if not one_sku and self.rng.random() < self.faults.unmapped_sku:
                sku = f"UNMAPPED-{self.rng.randint(1, 99)}"
            price = Decimal(self.rng.randint(100, 250_000)) / 100
            num = 1 if one_sku else self.rng.randint(1, 4)
            lines.append(
                {
                    "oid": 4_100_000_000_000_000_000 + self.seed * 10_000_000 + self._next_oid,
                    "num_iid": 600_000_000_000 + self.skus.index(sku)
                    if sku in self.skus
                    else 699_999_999_999,
                    "sku_id": str(5_000_000_000 + sum(sku.encode()) % 1000),
                    "outer_sku_id": sku,
                    "title": f"商品 {sku}",
                    "num": num,
                    "price": self._money(price),
                    "payment": self._money(price * num),
                    "total_fee": self._money(price * num),
                    "refund_status": "NO_REFUND",
                    "status": "WAIT_BUYER_PAY",
                }
            )
        payment = sum((Decimal(str(ln["payment"]).replace(",", "")) for ln in lines), Decimal(0))
        created = fmt(self.now)
        trade: dict[str, Any] = {
            "tid": tid,
            "tid_str": str(tid),
            "type": self.rng.choice(NON_DEFAULT_TYPES if non_default else DEFAULT_TYPES[:4]),
            "status": "WAIT_BUYER_PAY",
            "seller_nick": shop.seller_nick,
            "buyer_nick": self._nick(),
            "buyer_message": self._remark(),
            "seller_memo": "",
            "created": created,
            "pay_time": "",
            "payment": self._money(payment),
            "post_fee": self._money(Decimal("0.00")),
            "total_fee": self._money(payment),
            **self._address(),
            **invoice_request(tid),
            "orders": {"order": lines},
        }
        self.trades[tid] = []
        self._record(tid, "place", trade)
        # Drawn only when the fault is on: every other seed's schedule stays what it was.
        if self.faults.increment_hidden and self.rng.random() < self.faults.increment_hidden:
            self.hidden.add(tid)
        return tid

    def change(self, tid: int, action: str, **fields: Any) -> None:
        trade = {**self.trades[tid][-1].trade, **fields}
        if "status" in fields:
            trade["orders"] = {
                "order": [{**ln, "status": fields["status"]} for ln in trade["orders"]["order"]]
            }
        self._record(tid, action, trade)
        if self.rng.random() < self.faults.same_second and self.now % 1 < 0.9:
            # The platform touches the trade again at once (e.g. its own flags after a
            # payment): two versions share one ``modified`` second.
            self.now += self.rng.uniform(0.0, 0.99 - self.now % 1)
            again = {**trade, "seller_memo": f"{trade.get('seller_memo', '')}+"}
            if action == "pay":
                again["status"] = trade["status"]
            self._record(tid, "touch", again)

    def _record(self, tid: int, action: str, trade: dict[str, Any]) -> None:
        modified = int(self.now)
        trade["modified"] = fmt(modified)
        late = 0.0
        if self.rng.random() < self.faults.late_index:
            late = self.rng.uniform(0.0, self.faults.late_index_max)
        self.trades[tid].append(Version(modified, self.now + late, trade, self.now))
        # At the end, unless a test set the clock back.
        bisect.insort(self.log.setdefault(trade["seller_nick"], []), (modified, tid))
        self.truth.append(
            {
                "seq": len(self.truth) + 1,
                "tid": tid,
                "action": action,
                "modified": modified,
                "status": trade["status"],
                "type": trade["type"],
                "seller_nick": trade["seller_nick"],
                "at": self.now,
            }
        )
        for listen in self.listeners:
            listen(self, tid, action, trade)

    def _money(self, value: Decimal) -> str:
        text = f"{value:.2f}"
        if value >= 1000 and self.rng.random() < self.faults.money_commas:
            text = f"{value:,.2f}"
        return text

    def _nick(self) -> str:
        nick = f"buyer{self.rng.randint(1, 99_999)}"
        if self.rng.random() < self.faults.hostile_text:
            nick = f"🐼{nick}\u0000买家"
        return nick

    def _remark(self) -> str:
        if self.rng.random() < self.faults.hostile_text:
            return "请发顺丰 🚚\u0000\u202e谢谢"
        return self.rng.choice(["", "", "请尽快发货", "不要放快递柜", "送礼，不要发票"])

    def _address(self) -> dict[str, str]:
        if self.rng.random() < self.faults.garbage_address:
            return {
                "receiver_name": "",
                "receiver_state": "",
                "receiver_city": "??",
                "receiver_district": "",
                "receiver_town": "",
                "receiver_address": "\ufffd\ufffd<script>",
                "receiver_mobile": "call me",
            }
        state = self.rng.choice(["浙江省", "湖南省", "广东省"])
        city, district = PLACES[state]
        return {
            "receiver_name": self.rng.choice(["张三", "李四", "王五"]),
            "receiver_state": state,
            "receiver_city": city,
            "receiver_district": district,
            "receiver_town": "文新街道",
            "receiver_address": f"文一西路{self.rng.randint(1, 999)}号",
            "receiver_mobile": f"138{self.rng.randint(10_000_000, 99_999_999)}",
        }

    # --- the seller ships ----------------------------------------------------------------

    def ship(
        self, tid: int, out_sid: str, company_code: str, sub_tids: list[int] | None = None
    ) -> bool:
        """The seller says the trade has shipped; False when it is not waiting to ship
        (shipped already, or closed). With ``sub_tids`` (拆单发货, ``is_split=1``) only those
        sub-orders ship: the trade is ``SELLER_CONSIGNED_PART`` until every one has; False
        when one of them is not waiting to ship."""
        if sub_tids is not None:
            return self._ship_part(tid, out_sid, company_code, sub_tids)
        if self.trades[tid][-1].trade["status"] != "WAIT_SELLER_SEND_GOODS":
            return False
        self.change(tid, "ship", status="WAIT_BUYER_CONFIRM_GOODS", consign_time=fmt(self.now))
        self.shipments[tid] = {"out_sid": out_sid, "company_code": company_code}
        self.confirmations.append(
            {"tid": tid, "out_sid": out_sid, "company_code": company_code, "at": self.now}
        )
        return True

    def _ship_part(self, tid: int, out_sid: str, company_code: str, sub_tids: list[int]) -> bool:
        trade = self.trades[tid][-1].trade
        if trade["status"] not in ("WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART"):
            return False
        lines = trade["orders"]["order"]
        waiting = {ln["oid"] for ln in lines if ln["status"] == "WAIT_SELLER_SEND_GOODS"}
        if not sub_tids or not set(sub_tids) <= waiting:
            return False
        new_lines = [
            {**ln, "status": "WAIT_BUYER_CONFIRM_GOODS"} if ln["oid"] in sub_tids else ln
            for ln in lines
        ]
        done = all(ln["status"] == "WAIT_BUYER_CONFIRM_GOODS" for ln in new_lines)
        fields: dict[str, Any] = {
            "status": "WAIT_BUYER_CONFIRM_GOODS" if done else "SELLER_CONSIGNED_PART",
            "orders": {"order": new_lines},
        }
        if done:
            fields["consign_time"] = fmt(self.now)
        # Not through change(): it would give every line the trade's status.
        self._record(tid, "ship_part", {**trade, **fields})
        self.part_shipments.setdefault(tid, []).append(
            {"out_sid": out_sid, "company_code": company_code, "sub_tids": sorted(sub_tids)}
        )
        self.confirmations.append(
            {
                "tid": tid,
                "out_sid": out_sid,
                "company_code": company_code,
                "sub_tids": sorted(sub_tids),
                "at": self.now,
            }
        )
        return True

    # --- what the APIs see -----------------------------------------------------------------

    def indexed(self, seller_nick: str) -> list[dict[str, Any]]:
        """The search index now: per trade, the newest version already visible."""
        out = []
        for versions in self.trades.values():
            if versions[0].trade["seller_nick"] != seller_nick:
                continue
            newest = None
            for v in versions:  # in the order made: the last visible one is the newest
                if v.visible_at <= self.now and (newest is None or v.modified >= newest.modified):
                    newest = v
            if newest is not None:
                out.append({**newest.trade, "_modified": newest.modified})
        return out

    def read_trade(self, tid: int) -> dict[str, Any] | None:
        """The trade itself, sometimes from a replica behind by up to ``replica_lag_max``."""
        versions = self.trades.get(tid)
        if not versions:
            return None
        if self.rng.random() < self.faults.replica_lag:
            horizon = self.now - self.rng.uniform(0.0, self.faults.replica_lag_max)
            # A replica has what was made before its horizon, to the fraction of a second: of
            # two changes in one second it may have the first only.
            behind = [v for v in versions if v.made_at <= horizon]
            return (behind[-1] if behind else versions[0]).trade
        return versions[-1].trade

    def truth_state(self) -> dict[str, Any]:
        final: dict[int, dict[str, Any]] = {}
        for change in self.truth:
            final[change["tid"]] = change
        return {
            "now": self.now,
            "changes": list(self.truth),
            "trades": {str(t): c for t, c in final.items()},
            "faults": asdict(self.faults),
            "shipments": list(self.confirmations),
        }
