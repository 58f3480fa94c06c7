"""Downlink data on the node: orders keep their highest version, bins and expected stock replace."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.store import replica
from edge.store.store import Store
from protocol.messages import (
    BinInfo,
    BinsUpsert,
    BinsUpserted,
    BundleComponent,
    CatalogueUpsert,
    CatalogueUpserted,
    Change,
    DownBatch,
    OrderLine,
    OrderRelease,
    OrderReleased,
    Recipient,
    StockExpected,
    StockExpectedSet,
    StockLevel,
)

NODE = "wh1-pack-1"
WHO = Recipient(
    name="张三", phone="13800138000", province="湖南省", city="长沙市", address="麓山南路 1 号"
)


def order(version: int, status: str = "released", pick_node: str | None = NODE) -> OrderRelease:
    return OrderRelease(
        order_id="JY1",
        version=version,
        status=status,  # type: ignore[arg-type]
        carrier="SF",
        waybill="SF100",
        recipient=WHO,
        lines=[OrderLine(line_id="1", sku_code="A", qty=2)],
        wave="W1",
        pick_node=pick_node,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "edge.db", NODE)


def feed(store: Store, *changes: Change) -> None:
    start = store.down_applied
    numbered = [c.model_copy(update={"seq": start + i + 1}) for i, c in enumerate(changes)]
    assert store.apply_down(
        DownBatch(node=NODE, changes=numbered, head=start + len(changes))
    ) == len(changes)


def test_order_keeps_its_highest_version(store: Store) -> None:
    feed(store, OrderReleased(seq=1, payload=order(1)))
    found = replica.order(store.conn, "SF100")  # by waybill
    assert found is not None
    assert found.version == 1
    feed(
        store,
        OrderReleased(seq=1, payload=order(3, "cancelled")),
        OrderReleased(seq=1, payload=order(2)),
    )
    latest = replica.order(store.conn, "JY1")  # by order id
    assert latest is not None
    assert (latest.version, latest.status) == (
        3,
        "cancelled",
    )  # the late v2 did not undo the cancel
    assert replica.wave(store.conn, "W1", NODE) == []  # cancelled orders leave the wave
    assert replica.order(store.conn, "nope") is None


def test_a_wave_holds_only_the_orders_leased_to_the_node(store: Store) -> None:
    feed(store, OrderReleased(seq=1, payload=order(1, pick_node="wh1-pick-2")))
    assert replica.wave(store.conn, "W1", NODE) == []
    assert [o.order_id for o in replica.wave(store.conn, "W1", "wh1-pick-2")] == ["JY1"]
    assert replica.wave_holders(store.conn, "W1") == {"wh1-pick-2": 1}
    feed(store, OrderReleased(seq=1, payload=order(2)))  # the lease moved here
    assert [o.order_id for o in replica.wave(store.conn, "W1", NODE)] == ["JY1"]
    assert replica.wave(store.conn, "W1", "wh1-pick-2") == []
    feed(store, OrderReleased(seq=1, payload=order(3, pick_node=None)))
    assert replica.wave_holders(store.conn, "W1") == {None: 1}


def test_the_lease_migration_reads_it_from_releases_stored_before(tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.db", NODE)
    feed(store, OrderReleased(seq=1, payload=order(1)))
    with store.atomic() as conn:  # the store as it was before migration 0008_pick_lease
        conn.execute("ALTER TABLE order_release DROP COLUMN pick_node")
        conn.execute("DELETE FROM schema_migrations WHERE name = '0008_pick_lease'")
    store.close()
    again = Store(tmp_path / "edge.db", NODE)
    assert [o.order_id for o in replica.wave(again.conn, "W1", NODE)] == ["JY1"]


def test_sku_with_bundle_components_and_gtin(store: Store) -> None:
    up = CatalogueUpsert(
        sku_code="BUNDLE",
        name="套装",
        barcodes=["111"],
        gtin="00614141123452",
        serial_tracked=True,
        components=[BundleComponent(sku_code="A", qty=2)],
    )
    feed(store, CatalogueUpserted(seq=1, payload=up))
    sku = replica.sku_by_barcode(store.conn, "111")
    assert sku is not None
    assert sku.components == (BundleComponent(sku_code="A", qty=2),)
    assert sku.serial_tracked
    assert replica.sku_by_gtin(store.conn, "00614141123452") == sku


def test_bins_and_expected_stock_replace(store: Store) -> None:
    bins = [
        BinInfo(code=f"A-{i}", zone="pick", x=i, y=0, walk_order=i, barcode=f"BIN-A-{i}")
        for i in range(3)
    ]
    feed(store, BinsUpserted(seq=1, payload=BinsUpsert(warehouse="WH1", bins=bins)))
    assert [b.code for b in replica.bins(store.conn, "WH1")] == ["A-0", "A-1", "A-2"]
    assert replica.bin_by_barcode(store.conn, "BIN-A-1") == "A-1"
    levels = [
        StockLevel(bin="A-0", sku_code="X", qty=5),
        StockLevel(bin="A-1", sku_code="Y", qty=1),
    ]
    feed(
        store,
        StockExpectedSet(
            seq=1, payload=StockExpected(warehouse="WH1", bins=["A-0", "A-1"], levels=levels)
        ),
    )
    feed(
        store,
        StockExpectedSet(seq=1, payload=StockExpected(warehouse="WH1", bins=["A-1"], levels=[])),
    )
    assert replica.expected_stock(store.conn, ["A-0", "A-1"]) == {("A-0", "X"): 5}


def test_delivery_refs_and_order_skus_kept_by_release_and_built_by_their_migrations(
    tmp_path: Path,
) -> None:
    """``po_ref`` (store 0014) follows each PO release; ``order_sku`` (0015) follows the
    release of an order the node keeps (not an older version); both are built from the
    releases stored before their migrations."""
    from edge.runtimes.receive import OpenDemand, pos_by_ref
    from protocol.messages import PoRelease, PoReleased, PoReleaseLine

    def po(refs: list[str], status: str = "open") -> PoReleased:
        line = PoReleaseLine(sku_code="A", ordered=1, received=0, expected=1, allowed=1)
        return PoReleased(
            seq=1,
            payload=PoRelease(
                po_number="PO-1", warehouse="WH1", status=status, lines=[line], delivery_refs=refs
            ),
        )

    store = Store(tmp_path / "edge.db", NODE)
    feed(store, po(["ASN-1", "SF1"]), OrderReleased(seq=1, payload=order(2)))
    assert pos_by_ref(store.conn, "SF1", "WH1") == ["PO-1"]
    assert pos_by_ref(store.conn, "SF1", "WH2") == ["PO-1"]  # the station says why not
    feed(store, po(["ASN-2"]))  # the newer release replaces the references
    assert pos_by_ref(store.conn, "SF1", "WH1") == [] and pos_by_ref(store.conn, "ASN-2", "WH1")
    assert OpenDemand(store.conn)["A"] == 2
    feed(store, OrderReleased(seq=1, payload=order(1, status="cancelled")))  # older: ignored
    assert OpenDemand(store.conn)["A"] == 2
    feed(store, OrderReleased(seq=1, payload=order(3, status="on_hold")))
    assert OpenDemand(store.conn)["A"] == 0
    with store.atomic() as conn:  # the store as it was before migrations 0014 and 0015
        conn.execute("DROP TABLE po_ref")
        conn.execute("DROP TABLE order_sku")
        conn.execute(
            "DELETE FROM schema_migrations WHERE name IN ('0014_po_delivery_refs', '0015_order_sku')"
        )
    store.close()
    again = Store(tmp_path / "edge.db", NODE)
    assert pos_by_ref(again.conn, "ASN-2", "WH1") == ["PO-1"]
    assert again.conn.execute("SELECT sku_code, order_id, qty FROM order_sku").fetchall() == [
        ("A", "JY1", 2)
    ]


def test_a_pool_release_removes_free_numbers_and_answers_in_the_same_transaction(
    store: Store,
) -> None:
    """``waybill.pool_release``: the free numbers leave the pool, a printed one stays, one never
    here counts as released; the answer is in the outbox with the cursor. Applied again (a
    compacted resync) it answers again and changes nothing; a crash before the commit leaves
    neither the removal nor the answer."""
    from edge.store import waybill_pool
    from protocol.messages import (
        EVENT_ADAPTER,
        WaybillPoolRelease,
        WaybillPoolReleaseAsked,
        WaybillPoolReleased,
        WaybillPoolToppedUp,
        WaybillPoolTopUp,
    )

    store.start_epoch("test", "pack")
    top = WaybillPoolTopUp(carrier="ZTO", batch="ZTO:1-3", waybills=["751", "752", "753"])
    feed(store, WaybillPoolToppedUp(seq=1, payload=top))
    with store.atomic() as conn:
        waybill_pool.use(conn, "753", "JY1", 1)
    ask = WaybillPoolRelease(carrier="ZTO", release="ZTO:r2-3", waybills=["752", "753", "759"])

    def answers() -> list[WaybillPoolReleased]:
        out = []
        for _, body in store.pending(0, 100, 1 << 20):
            ev = EVENT_ADAPTER.validate_json(body)
            if isinstance(ev, WaybillPoolReleased):
                out.append(ev)
        return out

    class Boom(Exception):
        pass

    original = store._set_meta

    def broken(name: str, value: int) -> None:
        if name == "down_applied":
            raise Boom
        original(name, value)

    store._set_meta = broken  # type: ignore[method-assign]
    with pytest.raises(Boom):
        feed(store, WaybillPoolReleaseAsked(seq=1, payload=ask))
    store._set_meta = original  # type: ignore[method-assign]
    assert waybill_pool.free(store.conn, "ZTO") == 2 and answers() == []

    feed(store, WaybillPoolReleaseAsked(seq=1, payload=ask))
    (ans,) = answers()
    assert (ans.payload.released, ans.payload.used) == (["752", "759"], ["753"])
    assert waybill_pool.next_free(store.conn, "ZTO") == "751"
    assert waybill_pool.free(store.conn, "ZTO") == 1
    with pytest.raises(sqlite3.IntegrityError), store.atomic() as conn:
        waybill_pool.use(conn, "752", "JY2", 2)
    assert waybill_pool.order_of(store.conn, "753") == "JY1"
    feed(store, WaybillPoolReleaseAsked(seq=1, payload=ask))  # again: the same answer
    assert [a.payload for a in answers()] == [ans.payload, ans.payload]
    assert waybill_pool.free(store.conn, "ZTO") == 1


def test_a_removed_sku_leaves_the_node_with_its_barcodes(store: Store) -> None:
    """``catalogue.remove`` (issue 15): the hub deleted a SKU typed by mistake; the node drops
    it and its barcodes, keeps the others, and a removal of a SKU it lacks changes nothing."""
    from protocol.messages import CatalogueRemove, CatalogueRemoved

    for code, barcode in (("TYPO", "6901234567953"), ("KEPT", "6901234567892")):
        feed(
            store,
            CatalogueUpserted(
                seq=1, payload=CatalogueUpsert(sku_code=code, name=code, barcodes=[barcode])
            ),
        )
    assert replica.sku_by_barcode(store.conn, "6901234567953") is not None
    feed(store, CatalogueRemoved(seq=1, payload=CatalogueRemove(sku_code="TYPO")))
    assert replica.sku(store.conn, "TYPO") is None
    assert replica.sku_by_barcode(store.conn, "6901234567953") is None
    kept = replica.sku_by_barcode(store.conn, "6901234567892")
    assert kept is not None and kept.sku_code == "KEPT"
    # a removal of a SKU the node never had (or a replay): applied, nothing else changes
    feed(store, CatalogueRemoved(seq=1, payload=CatalogueRemove(sku_code="NEVER")))
    assert replica.sku(store.conn, "KEPT") == kept
    # the code typed again later comes back with its new barcode
    feed(
        store,
        CatalogueUpserted(
            seq=1,
            payload=CatalogueUpsert(sku_code="TYPO", name="again", barcodes=["6901234567946"]),
        ),
    )
    again = replica.sku_by_barcode(store.conn, "6901234567946")
    assert again is not None and again.name == "again"
