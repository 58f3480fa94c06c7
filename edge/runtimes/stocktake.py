"""The stocktake station's runtime: scanner (and an LLRP reader) around :class:`StocktakeStation`.

Operator keys (prefix ``#GJ:`` by default, docs/deploy/README.md):

* ``START:<full|partial>[:<scanner|rfid>][:<bin>,<bin>...]``: start a count. Full
  scope is every bin of ``[stocktake] warehouse`` in the replica; partial takes the
  listed bins. The expected stock of the scope is read from the replica *now* and
  frozen in :class:`CountStarted`;
* ``FINISH``, ``ABORT``, ``RECOUNT``: as the station's events;
* ``ZONE:<zone>`` (RFID): aim the sweep at every bin of the count in that zone.

Scanner counts: a bin barcode (or code) in the replica is :class:`BinScanned`,
anything else :class:`ItemScanned` with the SKU it names (barcode or GS1 GTIN,
serial from AI 21), or none.

RFID counts: a scanned bin aims the sweep at that bin. Every ``sweep_flush_s``
the tags in the reader's field not yet handed over in this count become one
:class:`TagsSeen` for the aimed bins; each EPC is resolved SGTIN-96 -> GTIN ->
SKU through the replica (an EPC that resolves to nothing is reported unknown).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from edge.config import EdgeConfig
from edge.devices.lights import Lights
from edge.devices.rfid import RfidReader
from edge.runtimes.common import StationRuntime, wall_ms
from edge.runtimes.pack import sku_for_scan
from edge.stations.common import Signal, barcode_problem, printable
from edge.stations.stocktake import (
    AbortCount,
    BinScanned,
    CountStarted,
    FinishCount,
    ItemScanned,
    RecountBin,
    State,
    StocktakeConfig,
    StocktakeStation,
    TagRead,
    TagsSeen,
)
from edge.store import replica
from edge.store.store import Store
from protocol.devices.epc import EPCError, decode_sgtin96
from protocol.messages import StockExpected, StockLevel

log = logging.getLogger("guanjia.edge.stocktake")

_RUNNING = (State.COUNTING, State.IN_BIN)


def resolve_epc(conn: sqlite3.Connection, epc: str) -> TagRead:
    """SGTIN-96 -> GTIN-14 -> SKU (via the replica); anything else is an unknown EPC."""
    try:
        sgtin = decode_sgtin96(epc)
    except EPCError:
        return TagRead(epc, None)
    sku = replica.sku_by_gtin(conn, sgtin.gtin14)
    return TagRead(epc, None if sku is None else sku.sku_code, str(sgtin.serial))


class StocktakeRuntime(StationRuntime):
    kind = "stocktake"

    def __init__(
        self,
        store: Store,
        lights: Lights,
        config: EdgeConfig,
        *,
        rfid: RfidReader | None = None,
        kick: Callable[[], None] = lambda: None,
        clock_ms: Callable[[], int] = wall_ms,
    ) -> None:
        super().__init__(
            store,
            lights,
            config.station.name,
            command_prefix=config.station.command_prefix,
            kick=kick,
            clock_ms=clock_ms,
        )
        section = config.stocktake
        assert section is not None, "config validation requires [stocktake]"
        self.section = section
        self.station = StocktakeStation(
            StocktakeConfig(config.station.name, duplicate_window_ms=section.duplicate_window_ms)
        )
        if rfid is None and config.rfid is not None:
            rfid = RfidReader(config.rfid.host, config.rfid.port, antennas=config.rfid.antennas)
        self.rfid = rfid
        #: RFID: the bins the sweep is aimed at, and the EPCs handed to the station.
        self.target: tuple[str, ...] = ()
        self.handed: set[str] = set()
        self._next_flush = 0
        self._told_no_target = False
        self._year = 1970

    async def start(self) -> None:
        import datetime

        self._year = datetime.datetime.fromtimestamp(self.clock_ms() / 1000).year
        if self.rfid is not None:
            self.spawn(self.rfid.run(), "rfid reader")
        await super().start()

    async def stop(self) -> None:
        if self.rfid is not None:
            await self.rfid.stop()
        await super().stop()

    def handle(self, event: object) -> list[object]:
        return list(self.station.handle(event))  # type: ignore[arg-type]

    @property
    def method(self) -> str | None:
        start = self.station.start
        return start.method if start is not None and self.station.state in _RUNNING else None

    # --- input -----------------------------------------------------------------------------

    def on_text(self, text: str) -> None:
        now = self.clock_ms()
        conn = self.store.conn
        if barcode_problem(text) is not None:
            self.dispatch(ItemScanned(text, None, at_ms=now))
            return
        bin_code = replica.bin_by_barcode(conn, text)
        if self.method == "rfid":
            if bin_code is None:
                self.dispatch(ItemScanned(text, None, at_ms=now))  # the station says why not
                return
            self._aim((bin_code,), f"bin {bin_code}")
            return
        if bin_code is not None:
            self.dispatch(BinScanned(text, at_ms=now))
            return
        found = sku_for_scan(conn, text, self._year)
        sku, serial = found if found is not None else (None, None)
        self.dispatch(ItemScanned(text, sku, serial, at_ms=now))

    def on_key(self, key: str) -> None:
        now = self.clock_ms()
        word, _, rest = key.partition(":")
        word = word.upper()
        if word == "START":
            self._start(rest, now)
        elif word == "FINISH":
            self._flush(now)  # tags seen up to now belong to this count
            self.dispatch(FinishCount(at_ms=now))
        elif word == "ABORT":
            self.dispatch(AbortCount(at_ms=now))
        elif word == "RECOUNT":
            self.dispatch(RecountBin(at_ms=now))
        elif word == "ZONE" and self.method == "rfid" and self.station.start is not None:
            zone = rest.strip()
            bins = tuple(
                code
                for code, info in sorted(self.station.start.bins.items())
                if info.zone == zone and code in self.station.scope
            )
            if not bins:
                self.say(
                    "sweep.unknown_zone",
                    Signal.WRONG_ITEM,
                    f"zone {printable(zone)} has no bins in this count",
                )
                return
            self._aim(bins, f"zone {zone} ({len(bins)} bins)")
        else:
            self.unknown_key(key)

    def _start(self, args: str, now: int) -> None:
        parts = [p for p in args.split(":") if p]
        scope = parts[0].lower() if parts else ""
        if scope not in ("full", "partial"):
            self.say(
                "count.bad_start",
                Signal.UNKNOWN,
                "start a count with START:full or START:partial:<bins>",
            )
            return
        method = self.section.method
        listed: list[str] = []
        for part in parts[1:]:
            if part.lower() in ("scanner", "rfid"):
                method = part.lower()  # type: ignore[assignment]
            else:
                listed += [b.strip() for b in part.split(",") if b.strip()]
        if method == "rfid" and self.rfid is None:
            self.say("count.no_reader", Signal.FAULT, "no RFID reader configured at this station")
            return
        conn = self.store.conn
        bins = {b.code: b for b in replica.bins(conn, self.section.warehouse)}
        if scope == "full":
            scope_bins = sorted(bins)
        else:
            unknown = [b for b in listed if b not in bins]
            if unknown or not listed:
                what = ", ".join(printable(b) for b in unknown) or "none listed"
                self.say("count.bad_scope", Signal.UNKNOWN, f"partial count: unknown bins ({what})")
                return
            scope_bins = sorted(set(listed))
        if not scope_bins:
            self.say(
                "count.no_bins",
                Signal.HOLD,
                f"warehouse {self.section.warehouse} has no bins on this node yet",
            )
            return
        levels = [
            StockLevel(bin=b, sku_code=s, qty=q)
            for (b, s), q in sorted(replica.expected_stock(conn, scope_bins).items())
        ]
        expected = StockExpected(warehouse=self.section.warehouse, bins=scope_bins, levels=levels)
        self.target = ()
        self.handed = set()
        self._told_no_target = False
        count_id = f"{self.station_name}-{now}"
        self.dispatch(
            CountStarted(count_id, method, scope, expected, bins, at_ms=now)  # type: ignore[arg-type]
        )

    # --- RFID sweeps -------------------------------------------------------------------------

    def _aim(self, bins: tuple[str, ...], what: str) -> None:
        self._flush(self.clock_ms())  # what was seen so far belongs to the previous aim
        self.target = bins
        self._told_no_target = False
        self.say("sweep.aimed", Signal.PROMPT, f"sweeping {what}: move the reader along it")

    def on_tick(self, now_ms: int) -> None:
        if self.method == "rfid" and now_ms >= self._next_flush:
            self._next_flush = now_ms + int(self.section.sweep_flush_s * 1000)
            self._flush(now_ms)

    def _flush(self, now_ms: int) -> None:
        if self.rfid is None or self.method != "rfid":
            return
        while not self.rfid.events.empty():  # arrivals are read from present() below
            self.rfid.events.get_nowait()
        fresh = [t.epc for t in self.rfid.present() if t.epc not in self.handed]
        if not fresh:
            return
        if not self.target:
            if not self._told_no_target:
                self._told_no_target = True
                self.say(
                    "sweep.no_target",
                    Signal.NOTICE,
                    f"{len(fresh)} tag(s) seen: scan a bin (or ZONE key) to say where",
                )
            return
        self.handed.update(fresh)
        conn = self.store.conn
        tags = tuple(resolve_epc(conn, epc) for epc in sorted(fresh))
        self.dispatch(TagsSeen(self.target, tags, at_ms=now_ms))
