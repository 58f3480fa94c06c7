"""The stocktake runtime through the real scanner port: a partial scanner count, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import orjson

from edge.config import EdgeConfig
from edge.devices.lights import Lights
from edge.node import EdgeNode
from edge.runtimes.common import StationRuntime
from edge.runtimes.stocktake import StocktakeRuntime, resolve_epc
from edge.stations.common import Signal
from edge.store.store import Store
from protocol.devices.epc import encode_sgtin96
from tests.support import free_port, until

from .harness import BOOK, NODE, RED, Recorder, _send, bins_and_stock, run, seed


def test_partial_scanner_count_records_fact_report_and_missed_bins(tmp_path: Path) -> None:
    cfg = EdgeConfig.model_validate(
        {
            "node": {"id": NODE, "data_dir": str(tmp_path / "edge")},
            "mqtt": {"port": free_port()},
            "station": {"kind": "stocktake", "name": "count-1"},
            "stocktake": {"warehouse": "wh1"},
        }
    )
    lights = Recorder(cfg.node.data_dir / "edge.db")
    built: list[StocktakeRuntime] = []

    def build(store: Store, li: Lights, kick: Callable[[], None]) -> StationRuntime:
        seed(store, extra=bins_and_stock())
        built.append(StocktakeRuntime(store, li, cfg, kick=kick))
        return built[0]

    async def main() -> None:
        node = EdgeNode(cfg, lights=lights, runtime=build)
        ready = asyncio.Event()
        task = asyncio.create_task(node.run(ready))
        await until(ready.is_set)

        async def scan(*lines: str) -> None:
            before = len(lights.shown)
            data = b"".join(s.encode() + b"\r\n" for s in lines)
            await asyncio.to_thread(_send, node.scanner.port, data)
            await until(lambda: len(lights.shown) >= before + len(lines))

        try:
            await scan("#GJ:START:partial")
            assert lights.shown[-1][0] is Signal.UNKNOWN  # no bins listed: refused, clearly
            await scan("#GJ:START:partial:B1,B2,B3", RED)
            assert lights.shown[-1][0] is Signal.WRONG_ITEM  # an item before any bin
            await scan("BIN-1", RED)
            await asyncio.sleep(0.04)  # past the double-read window
            await scan(RED, "777", "BIN-2", BOOK, BOOK)
            # "777" unknown; the second BOOK in the same write is a double read.
            assert [s for s, _ in lights.shown[-5:]] == [
                Signal.OK,
                Signal.UNKNOWN,
                Signal.OK,
                Signal.OK,
                Signal.NOTICE,
            ]
            await scan("#GJ:FINISH")
            assert lights.shown[-1][0] is Signal.COMPLETE
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn = sqlite3.connect(cfg.node.data_dir / "edge.db")
        body = conn.execute("SELECT body FROM outbox WHERE type = 'stocktake.counted'").fetchone()
        fact = orjson.loads(body[0])["payload"]
        assert fact["missed_bins"] == ["B3"]
        assert [
            (ln["bin"], ln["sku_code"], ln["expected"], ln["counted"]) for ln in fact["lines"]
        ] == [
            ("B1", "TEE-A-RED", 2, 2),
            ("B2", "BOOK-1", 1, 1),
        ]
        report = orjson.loads(conn.execute("SELECT body FROM stocktake_report").fetchone()[0])
        assert report["unknown_barcodes"] == ["777"]
        assert report["missed_bins"] == ["B3"]
        conn.close()

    run(main())
    assert lights.not_durable == []


def test_epcs_resolve_through_the_replica(tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.db", NODE)
    seed(store)
    from protocol.messages import CatalogueUpsert, CatalogueUpserted

    from .harness import push

    push(
        store,
        [
            CatalogueUpserted(
                seq=1,
                payload=CatalogueUpsert(
                    sku_code="RF-1", name="tagged", barcodes=["RF1"], gtin="00614141123452"
                ),
            )
        ],
    )
    epc = encode_sgtin96("urn:epc:id:sgtin:0614141.012345.42")
    tag = resolve_epc(store.conn, epc)
    assert (tag.sku_code, tag.serial) == ("RF-1", "42")
    assert resolve_epc(store.conn, "E2" + "0" * 22).sku_code is None  # not SGTIN-96
    store.close()
