"""The proof for transfers (issue 17): a hypothesis-generated mix of stock receipts,
purchase orders and their receipts, transfers (between warehouses and bin to bin) shipped,
or picked and shipped at the sender's node (``transfer.shipped``: short lines, nothing
picked, the fact sent again), the rest of a short one shipped from the hub (a late node
shipment of it refused), received with QC, received again, and their reversals (冲销出库, 取消入库, and attempts to
reverse a reversal). After every step:

* the levels equal a replay of the ledger (cloud/stock/views.py ``rebuild_levels``);
* nothing is negative (no step passes an override);
* the units of each transfer line are in exactly one place: the sender's movements of the
  document took ``shipped`` off it, the receiver's put ``received`` on, ``shipped −
  received`` is in transit, and the F10 inbound column counts that at the receiver only,
  beside the open purchase lines;
* the model's figures (what should have happened) equal the hub's.

Each example is a fresh seller account of the test's database (both databases).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud import accounts
from cloud.catalogue.skus import SkuIn, upsert_sku
from cloud.db.engine import session_factory, transaction
from cloud.db.models import (
    BinLevel,
    NodeAssignment,
    PurchaseOrderLine,
    StockLevel,
    StockMovement,
    Warehouse,
)
from cloud.db.transfers import Transfer, TransferLine
from cloud.errors import ConflictError, DomainError
from cloud.inbound import (
    orders,
    receipts,
    transfer_moves,
    transfer_pick,
    transfer_ship,
    transfers,
)
from cloud.stock import ledger
from cloud.stock.views import rebuild_levels, stock_view
from cloud.stock.warehouses import WarehouseIn, create_warehouse, upsert_bins
from protocol.messages import BinInfo, ShippedLine, TransferShippedPayload

SKUS = ("A", "B")
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
ROUTES = (("W1", "W2", None, None), ("W2", "W1", None, None), ("W1", "W1", "B1", "B2"))


class Stock(RuleBasedStateMachine):
    factory: sessionmaker[Session]

    @initialize()
    def seller(self) -> None:
        self.n = 0
        with transaction(self.factory) as s:
            self.acct = accounts.create_account(s, f"tp-{uuid.uuid4().hex[:10]}", NOW).id
            for code in ("W1", "W2"):
                create_warehouse(s, self.acct, WarehouseIn(code=code, name=code), "t", NOW)
            upsert_bins(
                s,
                self.acct,
                "W1",
                [
                    BinInfo(code=b, zone="pick", x=0, y=0, walk_order=i)
                    for i, b in enumerate(("B1", "B2"))
                ],
                "t",
                NOW,
            )
            for sku in SKUS:
                upsert_sku(
                    s,
                    SkuIn(sku_code=sku, name=sku, barcodes=[f"BC{self.acct}{sku}"]),
                    NOW,
                    self.acct,
                    "t",
                )
            # Opening stock, so that most shipments can leave (a few are still refused).
            for sku in SKUS:
                ledger.receive(s, self.acct, "W1", sku, 20, "t", NOW, bin_code="B1")
                ledger.receive(s, self.acct, "W2", sku, 10, "t", NOW)
            self.wid = {
                w.code: w.id
                for w in s.execute(
                    select(Warehouse).where(Warehouse.account_id == self.acct)
                ).scalars()
            }
            # A node at each warehouse, for shipments picked there (transfer_ship.py).
            self.node = {code: f"tp{self.acct}-{code.lower()}" for code in ("W1", "W2")}
            for code, node in self.node.items():
                s.add(
                    NodeAssignment(
                        node_id=node,
                        account_id=self.acct,
                        warehouse_id=self.wid[code],
                        changed_by="t",
                        changed_at=NOW,
                    )
                )
        #: The model: per transfer, its route, lines {sku: qty}, shipped and received per sku.
        self.transfers: dict[str, dict[str, object]] = {}
        self.receipts: list[tuple[str, str, bool]] = []  # (transfer, receipt id, cancelled)
        self.pos: list[str] = []
        self.reversals: list[str] = []  # movement ids of reversals

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    # --- stock coming in ------------------------------------------------------------

    @rule(
        wh=st.sampled_from(("W1", "W2")),
        sku=st.sampled_from(SKUS),
        qty=st.integers(1, 20),
        into_bin=st.booleans(),
    )
    def stock_receipt(self, wh: str, sku: str, qty: int, into_bin: bool) -> None:
        with transaction(self.factory) as s:
            ledger.receive(
                s,
                self.acct,
                wh,
                sku,
                qty,
                "t",
                NOW,
                bin_code="B1" if into_bin and wh == "W1" else None,
            )

    @rule(wh=st.sampled_from(("W1", "W2")), sku=st.sampled_from(SKUS), qty=st.integers(1, 20))
    def purchase(self, wh: str, sku: str, qty: int) -> None:
        number = self._id("PO")
        with transaction(self.factory) as s:
            orders.create(
                s,
                self.acct,
                number,
                wh,
                [orders.LineIn(sku, qty, Decimal("1.5"))],
                "t",
                NOW,
                confirm=True,
            )
        self.pos.append(number)

    @precondition(lambda self: bool(self.pos))
    @rule(data=st.data(), qty=st.integers(1, 12), fail=st.booleans())
    def po_receipt(self, data: st.DataObject, qty: int, fail: bool) -> None:
        number = data.draw(st.sampled_from(self.pos))
        try:
            with transaction(self.factory) as s:
                po = orders.get(s, self.acct, number)
                line = orders.lines_of(s, po)[0]
                wh = s.get_one(Warehouse, po.warehouse_id).code
                receipts.book(
                    s,
                    self.acct,
                    number,
                    self._id("PR"),
                    wh,
                    [
                        receipts.ReceiptLine(
                            line.sku_code, qty, "fail" if fail else "pass", "bad" if fail else None
                        )
                    ],
                    "t",
                    NOW,
                )
        except ConflictError:
            pass  # beyond tolerance or received in full: refused, nothing booked

    # --- transfers ------------------------------------------------------------------

    @rule(
        route=st.sampled_from(ROUTES),
        lines=st.dictionaries(st.sampled_from(SKUS), st.integers(1, 8), min_size=1),
    )
    def create_and_audit(
        self, route: tuple[str, str, str | None, str | None], lines: dict[str, int]
    ) -> None:
        number = self._id("TR")
        a, b, fb, tb = route
        with transaction(self.factory) as s:
            transfers.create(
                s,
                self.acct,
                number,
                "same_price",
                a,
                b,
                [transfers.LineIn(k, v) for k, v in lines.items()],
                "t",
                NOW,
                from_bin=fb,
                to_bin=tb,
                audit=True,
            )
        self.transfers[number] = {
            "route": route,
            "lines": dict(lines),
            "shipped": {},
            "ships": [],
            "received": defaultdict(int),
        }

    def _pick(self, data: st.DataObject) -> str | None:
        if not self.transfers:
            return None
        return data.draw(st.sampled_from(sorted(self.transfers)))

    def _unshipped(self) -> list[str]:
        return sorted(n for n, t in self.transfers.items() if not t["shipped"])

    def _in_transit(self) -> list[str]:
        return sorted(
            n
            for n, t in self.transfers.items()
            if any(v > t["received"][k] for k, v in t["shipped"].items())  # type: ignore[attr-defined, index]
        )

    @precondition(lambda self: bool(self._unshipped()))
    @rule(data=st.data())
    def ship(self, data: st.DataObject) -> None:
        number = data.draw(st.sampled_from(self._unshipped()))
        t = self.transfers[number]
        before = self._levels()
        try:
            with transaction(self.factory) as s:
                transfers.ship(s, self.acct, number, "t", NOW)
        except ConflictError:
            assert self._levels() == before  # refused whole: not enough stock, or not audited
            return
        assert not t["shipped"]
        t["shipped"] = dict(t["lines"])  # type: ignore[call-overload]
        t["ships"] = [dict(t["lines"])]  # type: ignore[call-overload]

    @precondition(lambda self: bool(self._unshipped()))
    @rule(data=st.data(), again=st.booleans())
    def ship_from_node(self, data: st.DataObject, again: bool) -> None:
        """The sender's node picks each line, some short (at most what the book says the
        sender, or its ``from_bin``, holds: no override) and reports it; maybe twice."""
        number = data.draw(st.sampled_from(self._unshipped()))
        t = self.transfers[number]
        a, _b, fb, _tb = t["route"]  # type: ignore[misc]
        lines = []
        with transaction(self.factory) as s:
            tr = transfers.get(s, self.acct, number)
            shipment = tr.shipments + 1
            for ln in transfers.lines_of(s, tr):
                level = s.get(StockLevel, (self.wid[a], ln.sku_code))
                have = level.on_hand - level.reserved if level is not None else 0
                if fb is not None:
                    bl = s.get(BinLevel, (self.wid[a], fb, ln.sku_code))
                    have = min(have, bl.qty if bl is not None else 0)
                qty = min(data.draw(st.integers(0, ln.qty)), max(0, have))
                lines.append(
                    ShippedLine(
                        line_no=ln.line_no,
                        sku_code=ln.sku_code,
                        qty=qty,
                        bin=fb,
                        short=qty < ln.qty,
                    )
                )
        p = TransferShippedPayload(
            shipment_id=self._id("SH"),
            transfer_number=number,
            shipment=shipment,
            warehouse=a,
            station=self.node[a],
            lines=lines,
        )
        for _ in range(2 if again else 1):
            with transaction(self.factory) as s:
                transfer_ship.book(s, self.acct, self.node[a], p, NOW)
        if any(ln.qty for ln in lines):
            t["shipped"] = {ln.sku_code: ln.qty for ln in lines}
            t["ships"] = [dict(t["shipped"])]  # type: ignore[call-overload]

    @precondition(lambda self: bool(self._in_transit()))
    @rule(data=st.data(), more=st.integers(-8, 2), fail=st.booleans(), again=st.booleans())
    def receive(self, data: st.DataObject, more: int, fail: bool, again: bool) -> None:
        """A receipt of what is left in transit, less some, or 1–2 beyond (refused)."""
        number = data.draw(st.sampled_from(self._in_transit()))
        t = self.transfers[number]
        sku = data.draw(st.sampled_from(sorted(t["lines"])))  # type: ignore[arg-type]
        shipped = t["shipped"].get(sku, 0)  # type: ignore[attr-defined]
        left = shipped - t["received"][sku]  # type: ignore[index]
        qty = max(1, left + more)
        rid = self._id("TRC")
        to = t["route"][1]  # type: ignore[index]
        line = transfer_moves.ReceiptLine(
            sku, qty, "fail" if fail else "pass", "damaged box" if fail else None
        )
        try:
            with transaction(self.factory) as s:
                transfer_moves.receive(s, self.acct, number, rid, to, [line], "t", NOW)
        except ConflictError:
            assert qty > left, (number, sku, qty, left)
            return
        assert qty <= left
        t["received"][sku] += qty  # type: ignore[index]
        self.receipts.append((number, rid, False))
        if again:  # the same receipt once more (a retry): nothing more is booked
            with transaction(self.factory) as s:
                _, new = transfer_moves.receive(s, self.acct, number, rid, to, [line], "t", NOW)
            assert new is False

    @precondition(lambda self: any(not c for _, _, c in self.receipts))
    @rule(data=st.data())
    def cancel_receipt(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from([i for i, r in enumerate(self.receipts) if not r[2]]))
        number, rid, _ = self.receipts[i]
        try:
            with transaction(self.factory) as s:
                rev = transfer_moves.cancel_receipt(s, self.acct, number, rid, "oops", "t", NOW)
                ids = list(rev.movement_ids)
                lines = next(
                    r
                    for r in transfer_moves.receipts_of(s, transfers.get(s, self.acct, number))
                    if r.receipt_id == rid
                ).lines
        except ConflictError as e:
            # The receiver no longer has the units (shipped on in another transfer).
            refused = str(e)
        else:
            refused = ""
        if refused:
            assert "negative" in refused
            return
        self.receipts[i] = (number, rid, True)
        for ln in lines:
            self.transfers[number]["received"][ln["sku_code"]] -= ln["qty"]  # type: ignore[index]
        self.reversals += ids

    @rule(data=st.data())
    def cancel_shipment(self, data: st.DataObject) -> None:
        number = self._pick(data)
        if number is None:
            return
        t = self.transfers[number]
        ships: list[dict[str, int]] = t["ships"]  # type: ignore[assignment]
        shipped: dict[str, int] = t["shipped"]  # type: ignore[assignment]
        received: dict[str, int] = t["received"]  # type: ignore[assignment]
        last = ships[-1] if ships else {}
        # Refused with nothing shipped, or when what arrived is more than the earlier
        # shipments left in transit (the newest one is taken back alone, 冲销出库).
        blocked = not ships or any(
            received[k] > shipped.get(k, 0) - last.get(k, 0) for k in received
        )
        try:
            with transaction(self.factory) as s:
                rev = transfer_moves.cancel_shipment(s, self.acct, number, "oops", "t", NOW)
                ids = list(rev.movement_ids)
        except ConflictError:
            assert blocked, (number, ships, received)
            return
        assert not blocked, (number, ships, received)
        ships.pop()
        t["shipped"] = {k: v - last.get(k, 0) for k, v in shipped.items() if v - last.get(k, 0)}
        self.reversals += ids

    def _short(self) -> list[str]:
        return sorted(
            n
            for n, t in self.transfers.items()
            if t["shipped"] and any(t["shipped"].get(k, 0) < q for k, q in t["lines"].items())  # type: ignore[attr-defined]
        )

    @precondition(lambda self: bool(self._short()))
    @rule(data=st.data(), ask_node_first=st.booleans())
    def ship_rest_from_hub(self, data: st.DataObject, ask_node_first: bool) -> None:
        """The rest of a short shipment shipped by the hub (the node asked first, or not):
        the whole rest or nothing; a late node shipment of it is refused, booking nothing."""
        number = data.draw(st.sampled_from(self._short()))
        t = self.transfers[number]
        a = t["route"][0]  # type: ignore[index]
        if ask_node_first:
            with transaction(self.factory) as s:
                transfer_pick.ship_rest(s, self.acct, number, "lead", NOW)
        before = self._levels()
        try:
            with transaction(self.factory) as s:
                tr = transfer_pick.ship_rest_from_hub(s, self.acct, number, "lead", NOW)
                shipment = tr.shipments
        except ConflictError:
            assert self._levels() == before  # the sender's book lacks the rest
            if ask_node_first:  # leave no ask behind for the other rules
                with transaction(self.factory) as s:
                    transfer_pick.cancel_rest(s, self.acct, number, "t", "lead", NOW)
            return
        lines: dict[str, int] = t["lines"]  # type: ignore[assignment]
        shipped: dict[str, int] = t["shipped"]  # type: ignore[assignment]
        rest = {k: q - shipped.get(k, 0) for k, q in lines.items() if q > shipped.get(k, 0)}
        t["ships"].append(rest)  # type: ignore[attr-defined]
        t["shipped"] = dict(lines)
        # The node's shipment of the rest, late: refused (the hub shipped it), nothing booked.
        late = TransferShippedPayload(
            shipment_id=self._id("LATE"),
            transfer_number=number,
            shipment=shipment,
            warehouse=a,
            station=self.node[a],
            lines=[
                ShippedLine(line_no=1, sku_code=sorted(rest)[0], qty=1, bin=t["route"][2])  # type: ignore[index]
            ],
        )
        before = self._levels()
        with pytest.raises(ConflictError), transaction(self.factory) as s:
            transfer_ship.book(s, self.acct, self.node[a], late, NOW)
        assert self._levels() == before

    @precondition(lambda self: bool(self.reversals))
    @rule(data=st.data())
    def reverse_a_reversal(self, data: st.DataObject) -> None:
        mid = data.draw(st.sampled_from(self.reversals))
        before = self._levels()
        with pytest.raises(DomainError), transaction(self.factory) as s:
            ledger.reverse_movement(s, self.acct, mid, "undo", "t", NOW)
        assert self._levels() == before

    # --- invariants -----------------------------------------------------------------

    def _levels(self) -> dict[tuple[int, str], dict[str, int]]:
        with transaction(self.factory) as s:
            return {
                (r.warehouse_id, r.sku_code): {
                    "on_hand": r.on_hand,
                    "reserved": r.reserved,
                    "damaged": r.damaged,
                    "qc": r.qc,
                    "hold": r.hold,
                }
                for r in s.execute(
                    select(StockLevel).where(StockLevel.account_id == self.acct)
                ).scalars()
            }

    @invariant()
    def levels_are_a_replay_and_never_negative(self) -> None:
        if not hasattr(self, "acct"):
            return
        levels = self._levels()
        with transaction(self.factory) as s:
            replay = rebuild_levels(s, self.acct)
            overrides = s.execute(
                select(func.count()).where(
                    StockMovement.account_id == self.acct, StockMovement.override
                )
            ).scalar_one()
        assert overrides == 0
        assert {k: v for k, v in levels.items() if any(v.values())} == {
            k: v for k, v in replay.items() if any(v.values())
        }
        for v in levels.values():
            assert min(v.values()) >= 0 and v["on_hand"] >= v["reserved"]

    @invariant()
    def each_transfer_is_in_exactly_one_place(self) -> None:
        if not hasattr(self, "acct"):
            return
        transit: dict[tuple[str, str], int] = defaultdict(int)
        with transaction(self.factory) as s:
            for t in s.execute(select(Transfer).where(Transfer.account_id == self.acct)).scalars():
                m = self.transfers[t.number]
                moved: dict[tuple[int, str], int] = defaultdict(int)
                for wh, sku, q in s.execute(
                    select(
                        StockMovement.warehouse_id,
                        StockMovement.sku_code,
                        func.sum(StockMovement.qty_delta),
                    )
                    .where(
                        StockMovement.account_id == self.acct,
                        StockMovement.document == f"tr:{t.number}",
                    )
                    .group_by(StockMovement.warehouse_id, StockMovement.sku_code)
                ):
                    moved[(wh, sku)] = int(q)
                a, b = t.from_warehouse_id, t.to_warehouse_id
                for ln in transfers.lines_of(s, t):
                    shipped = m["shipped"].get(ln.sku_code, 0)  # type: ignore[attr-defined]
                    received = m["received"][ln.sku_code]  # type: ignore[index]
                    assert (ln.shipped, ln.received) == (shipped, received)
                    assert 0 <= received <= shipped <= ln.qty
                    if a != b:
                        assert moved[(a, ln.sku_code)] == -shipped
                        assert moved[(b, ln.sku_code)] == received
                    else:
                        assert moved[(a, ln.sku_code)] == received - shipped
                    transit[(m["route"][1], ln.sku_code)] += shipped - received  # type: ignore[index]
                assert t.status == (
                    "audited"
                    if not m["shipped"]
                    else "done"
                    if all(m["received"][k] == v for k, v in m["shipped"].items())  # type: ignore[attr-defined, index]
                    else "partially_received"
                    if any(m["received"].values())  # type: ignore[attr-defined]
                    else "shipped"
                )
            for wh in ("W1", "W2"):
                po_open = dict(
                    s.execute(
                        select(
                            PurchaseOrderLine.sku_code,
                            func.sum(PurchaseOrderLine.qty - PurchaseOrderLine.received),
                        )
                        .where(
                            PurchaseOrderLine.account_id == self.acct,
                            PurchaseOrderLine.warehouse_id == self.wid[wh],
                            PurchaseOrderLine.in_transit,
                            PurchaseOrderLine.qty > PurchaseOrderLine.received,
                        )
                        .group_by(PurchaseOrderLine.sku_code)
                    ).all()
                )
                rows = stock_view(
                    s,
                    self.acct,
                    NOW,
                    warehouse=wh,
                    query=None,
                    columns=["inbound"],
                    limit=100,
                    offset=0,
                )
                inbound = {r["sku_code"]: r["inbound"] for r in rows}
                for sku in SKUS:
                    want = transit[(wh, sku)] + int(po_open.get(sku) or 0)
                    assert inbound.get(sku, 0) == want, (wh, sku, inbound, transit, po_open)
            lines_total = s.execute(
                select(func.count())
                .select_from(TransferLine)
                .where(TransferLine.account_id == self.acct)
            ).scalar_one()
            assert lines_total == sum(len(m["lines"]) for m in self.transfers.values())  # type: ignore[arg-type]


def _run(engine: Engine, examples: int, steps: int) -> None:
    Stock.factory = session_factory(engine)
    run_state_machine_as_test(
        Stock,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            database=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
        ),
    )


def test_transfers_purchases_and_reversals_keep_the_ledger_whole(engine: Engine) -> None:
    _run(engine, examples=10, steps=30)


@pytest.mark.slow
def test_transfers_purchases_and_reversals_keep_the_ledger_whole_long(engine: Engine) -> None:
    _run(engine, examples=150, steps=40)
