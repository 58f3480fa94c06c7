"""The receiving tests' node data, importable without the pack harness (whose lead PIN hash
costs a second): the kill test's child process starts from here."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.config import EdgeConfig
from edge.devices.lights import Lights
from edge.stations.common import Signal
from edge.store.store import Store
from protocol.messages import (
    BinInfo,
    BinsUpsert,
    BinsUpserted,
    CatalogueUpsert,
    CatalogueUpserted,
    Change,
    DownBatch,
    PoRelease,
    PoReleased,
    PoReleaseLine,
)
from tests.support import free_port

NODE = "wh1-pack-1"
RED, BLUE, BOOK = "6900000000011", "6900000000028", "6900000000035"
PHONE = "6900000000097"
SKUS = [
    CatalogueUpsert(sku_code="TEE-A-RED", name="tee red", barcodes=[RED], weight_g=200),
    CatalogueUpsert(sku_code="TEE-A-BLUE", name="tee blue", barcodes=[BLUE], weight_g=200),
    CatalogueUpsert(sku_code="BOOK-1", name="book", barcodes=[BOOK], weight_g=500),
]


def seed(store: Store) -> None:
    push(store, [CatalogueUpserted(seq=1, payload=s) for s in SKUS])


def push(store: Store, changes: Sequence[Change]) -> None:
    start = store.down_applied
    numbered = [c.model_copy(update={"seq": start + i + 1}) for i, c in enumerate(changes)]
    batch = DownBatch(node=NODE, changes=numbered, head=start + len(numbered))
    assert store.apply_down(batch) == len(numbered)


class Recorder(Lights):
    """Records each light; a light whose text is not committed in the journal is noted."""

    def __init__(self, db: Path) -> None:
        self.shown: list[tuple[Signal, str]] = []
        self.db = db
        self.not_durable: list[str] = []

    def show(self, signal: Signal, text: str) -> None:
        conn = sqlite3.connect(self.db)
        try:
            row = conn.execute("SELECT 1 FROM journal WHERE text = ?", (text,)).fetchone()
        finally:
            conn.close()
        if row is None:
            self.not_durable.append(text)
        self.shown.append((signal, text))

    def close(self) -> None:
        pass


def changes(allowed_red: int = 3) -> list[Change]:
    bins = [
        BinInfo(code="F-01", zone="fast_mover", x=0, y=1, walk_order=1, barcode="BIN-F01"),
        BinInfo(code="R-01", zone="reserve", x=2, y=1, walk_order=8, barcode="BIN-R01"),
        BinInfo(code="D-01", zone="damaged", x=9, y=9, walk_order=99, barcode="BIN-D01"),
    ]
    phone = CatalogueUpsert(
        sku_code="PHONE-1", name="phone", barcodes=[PHONE], weight_g=400, serial_tracked=True
    )
    po = PoRelease(
        po_number="PO-7",
        warehouse="wh1",
        status="open",
        tolerance_pct="0",
        lines=[
            PoReleaseLine(
                sku_code="TEE-A-RED", ordered=3, received=0, expected=3, allowed=allowed_red
            ),
            PoReleaseLine(sku_code="PHONE-1", ordered=1, received=0, expected=1, allowed=1),
            # Not in the node's catalogue: found by the PO line's own barcode.
            PoReleaseLine(
                sku_code="NEW-1",
                name="新品",
                barcodes=["6900000000103"],
                ordered=1,
                received=0,
                expected=1,
                allowed=1,
            ),
        ],
    )
    return [
        CatalogueUpserted(seq=1, payload=phone),
        BinsUpserted(seq=1, payload=BinsUpsert(warehouse="wh1", bins=bins)),
        PoReleased(seq=1, payload=po),
    ]


def receive_config(data_dir: Path, printer_port: int, **receive: Any) -> EdgeConfig:
    return EdgeConfig.model_validate(
        {
            "node": {"id": NODE, "data_dir": str(data_dir)},
            "mqtt": {"port": free_port()},  # nobody listens: the uplink is down throughout
            "station": {"kind": "inbound", "name": "rcv-1"},
            "receive": {
                "warehouse": "wh1",
                "printer_host": "127.0.0.1",
                "printer_port": printer_port,
                **receive,
            },
        }
    )
