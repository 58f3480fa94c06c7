"""Transfers in the receiving node's store (edge/runtimes/receive.py, edge/store/replica.py):
a ``transfer.release`` is kept and read in a PO's shape, its finished receipts count against
it (not against a PO of the same number), a receipt open at a restart resumes against the
transfer, and a withdrawn transfer reads as not open."""

from __future__ import annotations

from pathlib import Path

from edge.runtimes.receive import document_view, open_receipt, po_view, transfer_view
from edge.store.store import Store
from protocol.messages import PoReleaseLine, TransferRelease, TransferReleased

from .receiving import NODE, changes, push, seed


def _release(status: str = "open") -> TransferReleased:
    return TransferReleased(
        seq=1,
        payload=TransferRelease(
            transfer_number="PO-7",  # the PO's number too: the two stay apart
            warehouse="wh1",
            from_warehouse="wh2",
            status=status,  # type: ignore[arg-type]
            lines=[
                PoReleaseLine(sku_code="TEE-A-RED", ordered=5, received=1, expected=4, allowed=4)
            ],
        ),
    )


def _receipt(store: Store, rid: str, stage: str, units: int) -> None:
    store.conn.execute(
        "INSERT INTO receive_receipt (receipt_id, po_number, warehouse, station, stage, "
        "opened_ms, updated_ms, document) VALUES (?, 'PO-7', 'wh1', 'rcv-1', ?, 1, 1, 'transfer')",
        (rid, stage),
    )
    store.conn.executemany(
        "INSERT INTO receive_unit VALUES (?, ?, 'TEE-A-RED', 'pass', '', NULL, 1)",
        [(rid, n) for n in range(units)],
    )


def test_a_transfer_release_is_kept_and_counted_apart_from_a_po(tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.db", NODE)
    try:
        seed(store)
        push(store, [*changes(), _release()])
        t = transfer_view(store.conn, "PO-7")
        assert t is not None and t.document == "transfer" and t.origin == "wh2"
        assert t.release.status == "open" and t.release.lines[0].allowed == 4
        # A scanned number names the PO first (the hub refuses such a transfer number).
        doc = document_view(store.conn, "PO-7")
        assert doc is not None and doc.document == "po"
        _receipt(store, "R-1", "finished", 2)
        _receipt(store, "R-2", "counting", 1)
        assert transfer_view(store.conn, "PO-7").pending == {"TEE-A-RED": 2}  # type: ignore[union-attr]
        assert po_view(store.conn, "PO-7").pending == {}  # type: ignore[union-attr]
        resumed = open_receipt(store.conn, "rcv-1", 5)
        assert resumed is not None and resumed.receipt_id == "R-2"
        assert resumed.po.document == "transfer" and len(resumed.units) == 1
        push(store, [_release("withdrawn")])
        assert transfer_view(store.conn, "PO-7").release.status == "cancelled"  # type: ignore[union-attr]
    finally:
        store.close()


def test_a_serial_that_left_on_a_transfer_names_its_unit(tmp_path: Path) -> None:
    """The release lists the serials in transit (the sender's pick scanned them): scanning
    one alone names the SKU and the unit (edge/runtimes/receive.py ``item_for_scan``); a
    serial not listed names nothing (the station says it is no item of the transfer)."""
    from edge.runtimes.receive import item_for_scan

    store = Store(tmp_path / "edge.db", NODE)
    try:
        seed(store)
        line = PoReleaseLine(
            sku_code="TEE-A-RED",
            ordered=2,
            received=0,
            expected=2,
            allowed=2,
            serials=["wh2-rcv-1-S0000007", "wh2-rcv-1-S0000008"],
        )
        release = _release().payload.model_copy(update={"lines": [line]})
        push(store, [*changes(), TransferReleased(seq=1, payload=release)])
        t = transfer_view(store.conn, "PO-7")
        assert t is not None and t.release.lines[0].serials == line.serials
        found = item_for_scan(store.conn, {}, "wh2-rcv-1-S0000008", t.release, 2026)
        assert found is not None
        item, serial = found
        assert (item.sku_code, serial) == ("TEE-A-RED", "wh2-rcv-1-S0000008")
        assert item_for_scan(store.conn, {}, "wh2-rcv-1-S0000009", t.release, 2026) is None
    finally:
        store.close()


def test_a_serial_one_receipt_took_is_refused_in_the_next_before_the_node_syncs(
    tmp_path: Path,
) -> None:
    """Offline, receipt 1 takes serial S-A of transfer TR-9; the release (not yet holding
    it) still lists S-A, but the node's store knows: receipt 2 refuses it with a red light
    and counts nothing (edge/runtimes/receive.py ``serial_taken``), and takes S-B."""
    from edge.runtimes.receive import ReceiveRuntime
    from edge.stations.common import Signal
    from tests.edge.runtimes.receiving import Recorder, receive_config
    from tests.edge.runtimes.test_receive_runtime import _drain
    from tests.support import free_port

    cfg = receive_config(tmp_path / "edge", free_port(), labels="off")
    store = Store(cfg.node.data_dir / "edge.db", NODE)
    try:
        store.start_epoch("test", "inbound")
        seed(store)
        line = PoReleaseLine(
            sku_code="PHONE-1", ordered=2, received=0, expected=2, allowed=2, serials=["S-A", "S-B"]
        )
        tr = _release().payload.model_copy(update={"transfer_number": "TR-9", "lines": [line]})
        push(store, [*changes(), TransferReleased(seq=1, payload=tr)])
        lights = Recorder(cfg.node.data_dir / "edge.db")
        rt = ReceiveRuntime(store, lights, cfg)
        _drain(rt, "TR-9", "S-A", "#GJ:FINISH", "BIN-F01")
        assert lights.shown[-1][0] is Signal.COMPLETE, lights.shown
        _drain(rt, "TR-9", "S-A")
        signal, text = lights.shown[-1]
        assert signal is Signal.OVER_QTY, lights.shown
        assert f"serial S-A was received already in receipt {NODE}-R000001" in text
        assert rt.station.counted("PHONE-1") == 0
        units = store.conn.execute(
            "SELECT COUNT(*) FROM receive_unit WHERE receipt_id = ?", (f"{NODE}-R000002",)
        ).fetchone()
        assert units == (0,)
        _drain(rt, "S-B")
        assert lights.shown[-1][0] is Signal.OK and rt.station.counted("PHONE-1") == 1
    finally:
        store.close()
