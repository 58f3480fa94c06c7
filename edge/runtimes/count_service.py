"""Count service: :class:`edge.stations.stocktake.StocktakeStation` over the edge store for the
pick API's stocktake-by-scanner endpoints (``/api/v1/counts``, docs/pda.md "Stocktake").

The stocktake *station* (edge/runtimes/stocktake.py) counts at a fixed scanner; this is
the same station for a handheld, driven one HTTP request per scan, exactly as
:class:`edge.runtimes.pick.PickService` drives the pick station:

* each operator has at most one count running (a *count session*); every request is one
  station event, and its records (``stocktake.counted`` into the outbox, verdicts, the
  local report) are committed in **one** ``Store.atomic()`` together with the event
  itself (``count_input``) and the request's idempotency record (``count_request``:
  a retry with the same ``Idempotency-Key`` gets the first answer and commits nothing,
  docs/pick-api.md "Durability and retries");
* the station is pure, so a session is rebuilt after a restart (or a failed commit) by
  replaying its journalled inputs;
* a bin scan and an item scan are told apart, and an item barcode resolved to its SKU,
  as the stocktake runtime does (``replica.bin_by_barcode``, ``sku_for_scan``).

Blind counting (issue 14): the answers say what the counter counted, never the stock the
node expects; the expected stock is frozen into the count when it starts and is only in
the ``stocktake.counted`` fact the hub reconciles.

The tables are migration ``0010_count_api`` (edge/store/migrations.py ``COUNT_API_SCHEMA``),
and created here with ``CREATE TABLE IF NOT EXISTS`` too, as the pick API's are.
"""

from __future__ import annotations

import datetime
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import orjson
from pydantic import BaseModel

from edge.errors import EdgeError
from edge.runtimes.pack import sku_for_scan
from edge.stations.common import Record, Show, Signal, Verdict, barcode_problem
from edge.stations.stocktake import (
    AbortCount,
    BinScanned,
    CountStarted,
    Event,
    FinishCount,
    ItemScanned,
    RecountBin,
    State,
    StocktakeConfig,
    StocktakeReport,
    StocktakeStation,
)
from edge.store import journal, replica
from edge.store.migrations import COUNT_API_SCHEMA
from edge.store.store import Store
from protocol.messages import BinInfo, CatalogueUpsert, Message, StockExpected, StockLevel

SCHEMA: Final = COUNT_API_SCHEMA  # also migration 0010; created here for older stores

_CLOSED = (State.FINISHED, State.IDLE)


class CountError(EdgeError):
    """A request that does not fit the operator's count (409), or names nothing (422)."""

    status = 409


# --- views (what the API answers; never the expected stock) ---------------------------------


class CountView(BaseModel):
    """The operator's count as the counter sees it: the bins in scope, the ones visited,
    the open bin and what was counted in each bin. ``count_id`` null: no count running."""

    count_id: str | None
    scope: Literal["full", "partial"] | None = None
    state: str = "idle"
    bins: list[str] = []
    visited: list[str] = []
    bin: str | None = None
    #: bin -> SKU -> units counted (the counter's own numbers)
    counted: dict[str, dict[str, int]] = {}


class CountResult(BaseModel):
    """One request's answer: the station's verdict (``kind`` is its stable code, e.g.
    ``item.counted``, ``bin.out_of_scope``), its signal and sentence, and the count after it."""

    kind: str
    signal: str
    text: str
    sku_code: str | None = None
    count: CountView
    replayed: bool = False


@dataclass(slots=True)
class _Session:
    id: int
    operator: str
    station: StocktakeStation
    inputs: int = 0


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


def _encode(event: Event) -> tuple[str, bytes]:
    if isinstance(event, CountStarted):
        body: dict[str, object] = {
            "count_id": event.count_id,
            "method": event.method,
            "scope": event.scope,
            "expected": event.expected.model_dump(mode="json"),
            "bins": [b.model_dump(mode="json") for b in event.bins.values()],
        }
    elif isinstance(event, BinScanned):
        body = {"barcode": event.barcode}
    elif isinstance(event, ItemScanned):
        body = {
            "barcode": event.barcode,
            "sku": None if event.sku is None else event.sku.model_dump(mode="json"),
            "serial": event.serial,
        }
    else:
        body = {}
    return type(event).__name__, orjson.dumps(body)


def _decode(kind: str, raw: bytes, at: int) -> Event:
    b = orjson.loads(raw)
    if kind == "CountStarted":
        bins = [BinInfo.model_validate(x) for x in b["bins"]]
        return CountStarted(
            b["count_id"],
            b["method"],
            b["scope"],
            StockExpected.model_validate(b["expected"]),
            {x.code: x for x in bins},
            at_ms=at,
        )
    if kind == "BinScanned":
        return BinScanned(b["barcode"], at_ms=at)
    if kind == "ItemScanned":
        sku = None if b["sku"] is None else CatalogueUpsert.model_validate(b["sku"])
        return ItemScanned(b["barcode"], sku, b["serial"], at_ms=at)
    simple: dict[str, type[RecountBin | FinishCount | AbortCount]] = {
        "RecountBin": RecountBin,
        "FinishCount": FinishCount,
        "AbortCount": AbortCount,
    }
    if kind not in simple:
        raise ValueError(f"count_input kind {kind!r} unknown")
    return simple[kind](at_ms=at)


def view_of(station: StocktakeStation) -> CountView:
    start = station.start
    if start is None or station.state is State.IDLE:
        return CountView(count_id=None)
    counted: dict[str, dict[str, int]] = {}
    for (b, s), n in sorted(station.counted.items()):
        counted.setdefault(b, {})[s] = n
    return CountView(
        count_id=start.count_id,
        scope=start.scope,
        state=station.state.value,
        bins=list(station.scope),
        visited=sorted(station.visited),
        bin=station.current_bin if station.state is State.IN_BIN else None,
        counted=counted,
    )


class CountService:
    """Count sessions over one :class:`Store`, serialised by ``lock`` (the pick service's:
    one writer for the node's store)."""

    def __init__(
        self,
        store: Store,
        *,
        station: str,
        warehouse: str | None = None,
        lock: threading.Lock | None = None,
        wall_ms: Callable[[], int] | None = None,
        idempotency_ttl_s: float = 24 * 3600.0,
    ) -> None:
        self.store = store
        self.station_name = station
        self.warehouse = warehouse
        self.lock = lock or threading.Lock()
        self._wall_ms = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self._open: dict[str, _Session] = {}
        with self.lock:
            with store.atomic() as conn:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "DELETE FROM count_request WHERE at_ms < ?",
                    (self._wall_ms() - int(idempotency_ttl_s * 1000),),
                )
            for sid, operator in store.conn.execute(
                "SELECT id, operator FROM count_session "
                "WHERE state NOT IN ('finished', 'idle') ORDER BY id"
            ).fetchall():
                self._open[str(operator)] = self._rebuild(int(sid), str(operator))

    # --- requests -----------------------------------------------------------------------------

    def current(self, operator: str) -> CountView:
        with self.lock:
            session = self._open.get(operator)
            return view_of(session.station) if session else CountView(count_id=None)

    def start(
        self,
        operator: str,
        scope: Literal["full", "partial"],
        bins: Sequence[str],
        key: str | None = None,
    ) -> CountResult:
        """Start a full count (every bin of the node's warehouse) or a partial one (the
        listed bins): the expected stock of the scope is read now and frozen."""
        fp = _fingerprint("start", scope, sorted(set(bins)))
        with self.lock:
            replay = self._replayed(operator, key, fp)
            if replay is not None:
                return replay
            if operator in self._open:
                raise CountError(
                    "a count is running on this handheld: finish or abort it first",
                    code="count_running",
                )
            conn = self.store.conn
            table = {b.code: b for b in replica.bins(conn, self.warehouse)}
            if scope == "full":
                scope_bins = sorted(table)
            else:
                unknown = sorted({b for b in bins if b not in table})
                if unknown or not bins:
                    raise CountError(
                        f"partial count: unknown bins ({', '.join(unknown) or 'none listed'})",
                        code="count_bad_scope",
                        status=422,
                    )
                scope_bins = sorted(set(bins))
            if not scope_bins:
                raise CountError("this node has no bins yet", code="count_no_bins")
            levels = [
                StockLevel(bin=b, sku_code=s, qty=q)
                for (b, s), q in sorted(replica.expected_stock(conn, scope_bins).items())
            ]
            warehouse = self.warehouse or next(
                (w for (w,) in conn.execute("SELECT warehouse FROM bin LIMIT 1")), "?"
            )
            at = self._wall_ms()
            count_id = f"{self.station_name}-{operator}-{at}"
            event = CountStarted(
                count_id,
                "scanner",
                scope,
                StockExpected(warehouse=str(warehouse), bins=scope_bins, levels=levels),
                table,
                at_ms=at,
            )
            station = StocktakeStation(StocktakeConfig(self.station_name))
            with self.store.atomic():
                cur = conn.execute(
                    "INSERT INTO count_session (count_id, operator, state, started_ms, updated_ms)"
                    " VALUES (?, ?, 'idle', ?, ?)",
                    (count_id, operator, at, at),
                )
                session = _Session(int(cur.lastrowid or 0), operator, station)
                result = self._step(session, event, key, fp)
            self._open[operator] = session
            return result

    def scan(self, operator: str, barcode: str, key: str | None = None) -> CountResult:
        """A bin barcode opens that bin; anything else is an item counted into the open bin."""
        fp = _fingerprint("scan", barcode)
        with self.lock:
            replay = self._replayed(operator, key, fp)
            if replay is not None:
                return replay
            session = self._require(operator)
            at = self._wall_ms()
            conn = self.store.conn
            event: Event
            if barcode_problem(barcode) is not None:
                event = ItemScanned(barcode, None, at_ms=at)  # the station says why not
            elif replica.bin_by_barcode(conn, barcode) is not None:
                event = BinScanned(barcode, at_ms=at)
            else:
                year = datetime.datetime.fromtimestamp(at / 1000).year
                found = sku_for_scan(conn, barcode, year)
                sku, serial = found if found is not None else (None, None)
                event = ItemScanned(barcode, sku, serial, at_ms=at)
            return self._act(session, event, key, fp)

    def recount(self, operator: str, key: str | None = None) -> CountResult:
        return self._simple(operator, "recount", RecountBin, key)

    def finish(self, operator: str, key: str | None = None) -> CountResult:
        """Record the count: ``stocktake.counted`` (with the missed bins) into the outbox."""
        return self._simple(operator, "finish", FinishCount, key)

    def abort(self, operator: str, key: str | None = None) -> CountResult:
        return self._simple(operator, "abort", AbortCount, key)

    # --- inside -------------------------------------------------------------------------------

    def _simple(
        self,
        operator: str,
        what: str,
        kind: type[RecountBin | FinishCount | AbortCount],
        key: str | None,
    ) -> CountResult:
        fp = _fingerprint(what)
        with self.lock:
            replay = self._replayed(operator, key, fp)
            if replay is not None:
                return replay
            session = self._require(operator)
            if kind is RecountBin and session.station.state is not State.IN_BIN:
                raise CountError("scan the bin to count again first", code="count_no_bin")
            return self._act(session, kind(at_ms=self._wall_ms()), key, fp)

    def _require(self, operator: str) -> _Session:
        session = self._open.get(operator)
        if session is None:
            raise CountError("no count running: start one first", code="no_count")
        return session

    def _replayed(self, operator: str, key: str | None, fp: str) -> CountResult | None:
        if key is None:
            return None
        row = self.store.conn.execute(
            "SELECT fingerprint, response FROM count_request WHERE operator = ? AND key = ?",
            (operator, key),
        ).fetchone()
        if row is None:
            return None
        if row[0] != fp:
            raise CountError(
                "this Idempotency-Key was already used for a different request",
                code="idempotency_key_reused",
            )
        return CountResult.model_validate_json(row[1]).model_copy(update={"replayed": True})

    def _act(self, session: _Session, event: Event, key: str | None, fp: str) -> CountResult:
        try:
            with self.store.atomic():
                result = self._step(session, event, key, fp)
        except BaseException:
            # Memory ran ahead of the rolled-back database: rebuild from the journal.
            self._open[session.operator] = self._rebuild(session.id, session.operator)
            raise
        if session.station.state in _CLOSED:
            self._open.pop(session.operator, None)
        return result

    def _step(self, session: _Session, event: Event, key: str | None, fp: str) -> CountResult:
        """Handle ``event`` and commit everything it implies (inside the caller's atomic())."""
        conn = self.store.conn
        st = session.station
        commands = st.handle(event)
        kind_name, body = _encode(event)
        session.inputs += 1
        conn.execute(
            "INSERT INTO count_input VALUES (?, ?, ?, ?, ?)",
            (session.id, session.inputs, kind_name, body, event.at_ms),
        )
        shows: list[Show] = []
        verdict: Verdict | None = None
        for command in commands:
            if isinstance(command, Record):
                p = command.payload
                if isinstance(p, Message):
                    journal.append_fact(self.store, p, st.now_ms)
                elif isinstance(p, Verdict):
                    journal.add_verdict(conn, p, st.now_ms)
                    verdict = p
                elif isinstance(p, StocktakeReport):
                    journal.add_report(conn, self.station_name, p, st.now_ms)
                else:
                    raise TypeError(f"stocktake recorded a {type(p).__name__}: no table for it")
            elif isinstance(command, Show):
                shows.append(command)
        conn.execute(
            "UPDATE count_session SET state = ?, updated_ms = ? WHERE id = ?",
            (st.state.value, event.at_ms, session.id),
        )
        show = shows[-1] if shows else None
        result = CountResult(
            kind=verdict.kind if verdict is not None else "input.logged",
            signal=(show.signal if show else Signal.NOTICE).value,
            text=show.text if show else "",
            sku_code=verdict.sku_code if verdict is not None else None,
            count=view_of(st),
        )
        if key is not None:
            conn.execute(
                "INSERT INTO count_request VALUES (?, ?, ?, ?, ?)",
                (session.operator, key, fp, result.model_dump_json().encode(), event.at_ms),
            )
        return result

    def _rebuild(self, session_id: int, operator: str) -> _Session:
        station = StocktakeStation(StocktakeConfig(self.station_name))
        rows = self.store.conn.execute(
            "SELECT kind, body, at_ms FROM count_input WHERE session = ? ORDER BY n", (session_id,)
        ).fetchall()
        for kind, body, at in rows:
            station.handle(_decode(str(kind), bytes(body), int(at)))
        return _Session(session_id, operator, station, inputs=len(rows))
