"""Pick service: runs :class:`edge.stations.pick.PickStation` over the edge store for the pick API.

Theory of operation
-------------------
An operator starts a wave: the service reads the wave's released orders, the bin
table and the expected stock of the SKUs they need from the store (the cloud's
downlink, :mod:`edge.store.replica`), hands them to a new station as ``WaveLoaded`` and
keeps the station in memory as that operator's *pick session*. Each later request
(a scan, "short", "substitute") becomes one station event; the service executes the
station's commands in order:

* every :class:`~edge.stations.common.Record` is committed in **one**
  ``Store.atomic()`` per request through :mod:`edge.store.journal` — ``order.picked`` facts
  into the outbox (``Store.append``, once per identical fact), :class:`Verdict` rows
  into ``journal``, :class:`StockMovement` rows into ``stock_movement`` (migration
  ``0006_station_journal``) — together with the event itself (``pick_input``), the
  session's state and the request's idempotency record;
* only then are the :class:`Show` commands returned (they become the response's
  ``verdict``/``signal``/``text``: the PDA shows and plays them) and the
  :class:`Log` commands logged (docs/sync.md, "Durable first").

Sessions survive a restart: the inputs of a session are journalled, and the station
is pure, so replaying them rebuilds it exactly (the ``WaveLoaded`` input keeps the
orders, stock and the bin table it was given, the bin table deduplicated by hash in
``pick_blob``; the rows' format is :mod:`edge.runtimes.pick_inputs`). A failed commit rebuilds the session from the journal the same way,
so memory never runs ahead of the database.

Before each action the service compares the session's orders with the store and
feeds the station an ``OrderUpdated`` for each order the cloud changed (a cancel or
hold mid-wave): its "put it back" verdict comes back in ``alerts``.

Pick leases (docs/sync.md): the hub leases each order's pick to one pick node
(``OrderRelease.pick_node``). This service offers, previews and starts only the orders
leased to its own node; a wave with none of them is refused naming the node that holds
it. When the hub moves the lease of an order in a session's wave to another node, the
station gets it as a withdrawn order (``OrderUpdated`` with status ``cancelled``): its
"put it back" verdict tells the picker, and what was already picked is reported in
``order.picked`` as always, for the hub to turn into a task.

One SQLite writer: every call takes :attr:`PickService.lock`, so requests served from
a thread pool are serialised and each request commits once.

The pick API's own tables are created here with ``CREATE TABLE IF NOT EXISTS`` until
the lead folds :data:`SCHEMA` into a named migration in edge/store/migrations.py:
``pick_session``, ``pick_input``, ``pick_blob``, ``pick_request``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import orjson

from edge.ops import metrics
from edge.runtimes import pick_inputs, pick_transfer, pick_views
from edge.runtimes.pick_views import (
    EXPECT,
    ActionResult,
    Alert,
    Conflict,
    CurrentView,
    NotFound,
    PickError,
    PickList,
    UnallocatedLine,
    WaveSummary,
    api_verdict,
)
from edge.stations.common import Log, Record, Show, Signal, StockMovement, Verdict
from edge.stations.pick import (
    BinScanned,
    Command,
    Event,
    ItemScanned,
    OrderUpdated,
    PickConfig,
    PickStation,
    ShortPick,
    State,
    Substitute,
    WaveLoaded,
    is_transfer,
)
from edge.stations.route import Metric
from edge.store import journal, replica
from edge.store.migrations import PICK_API_SCHEMA
from edge.store.store import Store
from protocol.messages import (
    BinInfo,
    CatalogueUpsert,
    Message,
    OrderPickedPayload,
    OrderRelease,
    StockLevel,
)

log = logging.getLogger("guanjia.edge.pick")

SCHEMA: Final = PICK_API_SCHEMA  # also migration 0007; created here for older stores

# --- sessions -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Session:
    id: int
    wave: str
    operator: str
    station: PickStation
    inputs: int = 0
    #: bin code or bin barcode -> bin code, for telling bin scans from item scans
    bin_codes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Outcome:
    facts: list[int] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    shows: list[Show] = field(default_factory=list)
    logs: list[Log] = field(default_factory=list)


def _as_upsert(sku: replica.Sku, barcode: str) -> CatalogueUpsert:
    return CatalogueUpsert(
        sku_code=sku.sku_code,
        name=sku.name,
        barcodes=[barcode],
        weight_g=sku.weight_g,
        gtin=sku.gtin,
        serial_tracked=sku.serial_tracked,
        components=list(sku.components),
    )


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


def ensure_schema(store: Store) -> None:
    """Create the pick tables if missing (idempotent; a named migration will replace it)."""
    with store.atomic() as conn:
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)


class PickService:
    """Pick sessions over one :class:`Store`. Thread-safe: every call holds :attr:`lock`."""

    def __init__(
        self,
        store: Store,
        *,
        station: str,
        warehouse: str | None = None,
        start: tuple[float, float] | None = None,
        metric: Metric = "aisle",
        wall_ms: Callable[[], int] | None = None,
        perf: Callable[[], float] = time.perf_counter,
        idempotency_ttl_s: float = 24 * 3600.0,
    ) -> None:
        self.store = store
        self.station_name = station
        self.warehouse = warehouse
        self.start_at = start
        self.metric: Metric = metric
        self._wall_ms = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self._perf = perf
        self.lock = threading.Lock()
        self._open: dict[int, _Session] = {}
        with self.lock:
            ensure_schema(store)
            with store.atomic() as conn:
                conn.execute(
                    "DELETE FROM pick_request WHERE at_ms < ?",
                    (self._wall_ms() - int(idempotency_ttl_s * 1000),),
                )
            for (sid,) in store.conn.execute(
                "SELECT id FROM pick_session WHERE state != 'done' ORDER BY id"
            ).fetchall():
                session = self._rebuild(int(sid))
                self._open[session.id] = session
                log.info(
                    "pick session %d resumed: wave %s, %s, stop %d of %d",
                    session.id,
                    session.wave,
                    session.operator,
                    session.station.index + 1,
                    len(session.station.stops),
                    extra={"wave": session.wave, "operator": session.operator},
                )

    # --- queries ----------------------------------------------------------------------------

    def waves(self) -> list[WaveSummary]:
        """Waves with released orders leased to this node, and waves it has picked or is picking."""
        with self.lock:
            conn = self.store.conn
            rows = conn.execute(
                "SELECT o.wave, COUNT(DISTINCT o.order_id), "
                "COALESCE(SUM(json_extract(l.value, '$.qty')), 0) "
                "FROM order_release o, json_each(o.body, '$.lines') l "
                "WHERE o.wave IS NOT NULL AND o.status = 'released' AND o.pick_node = ? "
                "GROUP BY o.wave",
                (self.store.node_id,),
            ).fetchall()
            out = {
                str(w): WaveSummary(
                    wave=str(w), orders=int(n), units=int(u), status="available", operator=None
                )
                for w, n, u in rows
            }
            for wave, operator, state in conn.execute(
                "SELECT wave, operator, state FROM pick_session ORDER BY id"
            ):
                base = out.get(wave) or WaveSummary(
                    wave=wave, orders=0, units=0, status="available", operator=None
                )
                status: Literal["in_progress", "done"] = (
                    "done" if state == State.DONE.value else "in_progress"
                )
                out[wave] = base.model_copy(update={"status": status, "operator": operator})
            # Transfers leaving this warehouse, leased here and not picked for this shipment
            # (edge/runtimes/pick_transfer.py): offered like waves, under their numbers.
            for number, units, state_ in conn.execute(
                "SELECT t.transfer_number, SUM(json_extract(l.value, '$.qty')), "
                "(SELECT s.state FROM pick_session s WHERE s.wave = t.transfer_number "
                "ORDER BY s.id DESC LIMIT 1) "
                "FROM transfer_outbound t, json_each(t.body, '$.lines') l "
                "WHERE t.status = 'open' AND t.pick_node = ? AND t.picked < t.shipment "
                "AND (? IS NULL OR t.warehouse = ?) GROUP BY t.transfer_number",
                (self.store.node_id, self.warehouse, self.warehouse),
            ):
                busy = state_ is not None and state_ != State.DONE.value
                prior = out.get(str(number))
                out[str(number)] = WaveSummary(
                    wave=str(number),
                    orders=1,
                    units=int(units),
                    status="in_progress" if busy else "available",
                    operator=prior.operator if busy and prior else None,
                    kind="transfer",
                )
            return [out[w] for w in sorted(out)]

    def current(self, operator: str) -> CurrentView:
        with self.lock:
            session = self._session_of(operator)
            if session is None:
                return CurrentView(
                    wave=None, state=State.IDLE.value, expect=None, stop=None, progress=None
                )
            st = session.station
            return CurrentView(
                wave=session.wave,
                state=st.state.value,
                expect=EXPECT.get(st.state),
                stop=pick_views.stop_view(self.store.conn, st, st.index)
                if st.stop is not None
                else None,
                progress=pick_views.progress(st),
                serials=sorted(st.serials),
            )

    def pick_list(self, wave: str) -> PickList:
        """The wave's stops in route order: live, as finished, or a preview if not started."""
        with self.lock:
            session = next((s for s in self._open.values() if s.wave == wave), None)
            operator: str | None
            if session is not None:
                station, operator = session.station, session.operator
            else:
                row = self.store.conn.execute(
                    "SELECT id FROM pick_session WHERE wave = ? ORDER BY id DESC LIMIT 1", (wave,)
                ).fetchone()
                if row is not None:
                    done = self._rebuild(int(row[0]))
                    station, operator = done.station, done.operator
                else:
                    station, operator = self._preview(wave), None
            route = station.route
            return PickList(
                wave=wave,
                state="not_started" if operator is None else station.state.value,
                operator=operator,
                route_m=round(route.length, 1) if route else 0.0,
                naive_route_m=round(route.naive_length, 1) if route else 0.0,
                unlocated=list(route.unlocated) if route else [],
                stops=[
                    pick_views.stop_view(self.store.conn, station, i)
                    for i in range(len(station.stops))
                ],
                unallocated=[
                    UnallocatedLine(order_id=o, line_id=ln, sku_code=s, qty=q)
                    for o, ln, s, q in station.unallocated
                ],
                progress=pick_views.progress(station),
            )

    def refresh_metrics(self) -> None:
        """Sync gauges from the store (called before a /metrics scrape); skipped if busy."""
        if not self.lock.acquire(timeout=0.2):
            return
        try:
            s = self.store
            metrics.set_backlog(
                s.backlog(),
                acked_through=s.acked_through,
                last_seq=s.last_seq,
                oldest_unacked_age_s=s.oldest_unacked_age_s(),
            )
        finally:
            self.lock.release()

    # --- actions ----------------------------------------------------------------------------

    def start(self, operator: str, wave: str, idempotency_key: str | None = None) -> ActionResult:
        """Load ``wave`` for ``operator`` and route it (or resume the operator's own wave)."""
        fp = _fingerprint("start", wave)
        with self.lock:
            replay = self._replayed(operator, idempotency_key, fp)
            if replay is not None:
                return replay
            own = self._session_of(operator)
            if own is not None:
                if own.wave != wave:
                    raise Conflict(
                        "wave_open", f"finish wave {own.wave} before starting wave {wave}"
                    )
                return self._resumed(own)
            taken = next((s for s in self._open.values() if s.wave == wave), None)
            if taken is not None:
                raise Conflict("wave_taken", f"wave {wave} is being picked by {taken.operator}")
            if self.store.conn.execute(
                "SELECT 1 FROM pick_session WHERE wave = ? AND state = 'done'", (wave,)
            ).fetchone() and not self._transfer_wave(wave):
                raise Conflict("wave_done", f"wave {wave} has already been picked on this node")
            orders, bins, stock = self._gather(wave)
            at = self._wall_ms()
            station = PickStation(self._config(operator, self.station_name))
            event = WaveLoaded(wave, orders, bins, stock, at)
            with self.store.atomic() as conn:
                cur = conn.execute(
                    "INSERT INTO pick_session (wave, operator, station, state, started_ms, updated_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (wave, operator, self.station_name, State.IDLE.value, at, at),
                )
                assert cur.lastrowid is not None
                session = _Session(
                    cur.lastrowid, wave, operator, station, 0, pick_inputs.bin_codes(bins)
                )
                outcome = self._run(session, event)
                result = self._finish(session, [], outcome, idempotency_key, fp, at)
            if station.state is not State.DONE:
                self._open[session.id] = session
        self._after(session, "start", result, [], outcome, None)
        return result

    def scan(self, operator: str, barcode: str, idempotency_key: str | None = None) -> ActionResult:
        """A barcode from the PDA: a bin or an item, told apart by the bin table and catalogue."""
        t0 = self._perf()
        fp = _fingerprint("scan", barcode)
        with self.lock:
            replay = self._replayed(operator, idempotency_key, fp)
            if replay is not None:
                return replay
            session = self._require(operator)
            at = self._wall_ms()
            st = session.station
            event: Event
            if barcode in session.bin_codes:
                event = BinScanned(barcode, at)
            else:
                sku = replica.sku_by_barcode(self.store.conn, barcode)
                gs1 = None if sku is not None else pick_transfer.gs1_unit(self.store.conn, barcode)
                if sku is not None:
                    event = ItemScanned(barcode, _as_upsert(sku, barcode), at)
                elif gs1 is not None:
                    # A GS1 item label: the SKU by its GTIN, the unit's serial from AI 21.
                    event = ItemScanned(barcode, _as_upsert(gs1[0], barcode), at, gs1[1])
                elif st.state is State.AT_BIN:
                    event = BinScanned(barcode, at)  # the station says "unknown bin"
                else:
                    event = ItemScanned(barcode, None, at)  # "unknown barcode"
            result, alerts, outcome = self._act(session, event, idempotency_key, fp)
        metrics.count_scan("pick")
        self._after(session, "scan", result, alerts, outcome, self._perf() - t0)
        return result

    def short(self, operator: str, idempotency_key: str | None = None) -> ActionResult:
        """End the current stop with what was picked: the bin holds no more."""
        fp = _fingerprint("short")
        with self.lock:
            replay = self._replayed(operator, idempotency_key, fp)
            if replay is not None:
                return replay
            session = self._require(operator)
            event = ShortPick(self._wall_ms())
            result, alerts, outcome = self._act(session, event, idempotency_key, fp)
        self._after(session, "short", result, alerts, outcome, None)
        return result

    def substitute(self, operator: str, idempotency_key: str | None = None) -> ActionResult:
        """The next item scan is picked in place of the stop's SKU (flagged ``substitute_for``)."""
        fp = _fingerprint("substitute")
        with self.lock:
            replay = self._replayed(operator, idempotency_key, fp)
            if replay is not None:
                return replay
            session = self._require(operator)
            st = session.station
            stop = st.stop
            if any(is_transfer(o) for o in st.orders.values()):
                raise Conflict(
                    "transfer_no_substitute",
                    f"transfer {session.wave} ships its own SKUs only: no substitutes "
                    "(short the stop if the bin holds no more)",
                )
            if st.state is State.AT_BIN and stop is not None:
                raise Conflict(
                    "bin_first", f"scan bin {stop.bin} first: a substitute is picked at the bin"
                )
            if st.state is State.SUBSTITUTE and stop is not None:
                raise Conflict(
                    "already_substituting",
                    f"substitute is already on: scan the item to pick in place of {stop.sku_code}",
                )
            event = Substitute(self._wall_ms())
            result, alerts, outcome = self._act(session, event, idempotency_key, fp)
        self._after(session, "substitute", result, alerts, outcome, None)
        return result

    # --- internals --------------------------------------------------------------------------

    def _config(self, operator: str, station: str) -> PickConfig:
        return PickConfig(
            station=station, start=self.start_at, metric=self.metric, operator=operator
        )

    def _session_of(self, operator: str) -> _Session | None:
        return next((s for s in self._open.values() if s.operator == operator), None)

    def _require(self, operator: str) -> _Session:
        session = self._session_of(operator)
        if session is None:
            raise Conflict(
                "no_wave", "no wave in progress: start one with POST /waves/{wave}/start"
            )
        return session

    def _replayed(self, operator: str, key: str | None, fp: str) -> ActionResult | None:
        if key is None:
            return None
        row = self.store.conn.execute(
            "SELECT fingerprint, response FROM pick_request WHERE operator = ? AND key = ?",
            (operator, key),
        ).fetchone()
        if row is None:
            return None
        if row[0] != fp:
            raise Conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a different request",
            )
        return ActionResult.model_validate_json(row[1]).model_copy(update={"replayed": True})

    def _gather(
        self, wave: str
    ) -> tuple[tuple[OrderRelease, ...], dict[str, BinInfo], tuple[StockLevel, ...]]:
        conn = self.store.conn
        orders = tuple(replica.wave(conn, wave, self.store.node_id))
        from_bin: str | None = None
        if not orders:
            found = pick_transfer.outbound(conn, wave)
            if found is None:
                raise self._not_leased_here(wave)
            refused = pick_transfer.problem(
                *found, self.store.node_id, self.warehouse
            ) or pick_transfer.too_many_serials(conn, found[0])
            if refused is not None:
                raise refused
            orders, from_bin = (
                (pick_transfer.as_order(found[0], self.store.node_id),),
                found[0].from_bin,
            )
        bins = {b.code: b for b in replica.bins(conn, self.warehouse)}
        skus = sorted({line.sku_code for o in orders for line in o.lines})
        stock = tuple(
            StockLevel(bin=b, sku_code=s, qty=q)
            for b, s, q in conn.execute(
                "SELECT bin, sku_code, qty FROM stock_expected "
                "WHERE sku_code IN (SELECT value FROM json_each(?)) ORDER BY bin, sku_code",
                (orjson.dumps(skus).decode(),),
            )
            if (self.warehouse is None or b in bins) and from_bin in (None, b)
        )
        return orders, bins, stock

    def _transfer_wave(self, wave: str) -> bool:
        """A transfer's number, not a wave of orders (a re-release after 冲销出库 is picked
        again under the same number: its own ``picked`` column says whether it was)."""
        conn = self.store.conn
        return not replica.wave(conn, wave, self.store.node_id) and (
            pick_transfer.outbound(conn, wave) is not None
        )

    def _not_leased_here(self, wave: str) -> PickError:
        """Why ``wave`` has nothing for this node to pick: unknown, or leased elsewhere."""
        holders = replica.wave_holders(self.store.conn, wave)
        if not holders:
            return NotFound("no_such_wave", f"wave {wave} has no released orders on this node")
        others = sorted(n for n in holders if n is not None)
        if others:
            return Conflict(
                "leased_elsewhere",
                f"wave {wave} is leased to pick node {', '.join(others)}, not to this node "
                f"({self.store.node_id}): it is picked there; a lead moves the lease on the hub",
            )
        return Conflict(
            "not_leased",
            f"wave {wave} is leased to no pick node yet: a lead leases its orders on the hub "
            "(POST /api/v1/orders/{order_no}/pick-node)",
        )

    def _preview(self, wave: str) -> PickStation:
        orders, bins, stock = self._gather(wave)
        station = PickStation(self._config("preview", self.station_name))
        station.handle(WaveLoaded(wave, orders, bins, stock, self._wall_ms()))
        return station

    # Journal of inputs: enough to rebuild a session by replaying them.

    def _rebuild(self, session_id: int) -> _Session:
        conn = self.store.conn
        wave, operator, station_name = conn.execute(
            "SELECT wave, operator, station FROM pick_session WHERE id = ?", (session_id,)
        ).fetchone()
        station = PickStation(self._config(operator, station_name))
        session = _Session(session_id, wave, operator, station)
        for kind, body, at in conn.execute(
            "SELECT kind, body, at_ms FROM pick_input WHERE session = ? ORDER BY n", (session_id,)
        ).fetchall():
            event = pick_inputs.load(conn, kind, body, at)
            if isinstance(event, WaveLoaded):
                session.bin_codes = pick_inputs.bin_codes(event.bins)
            station.handle(event)  # already committed: the commands are not run again
            session.inputs += 1
        return session

    def _order_updates(self, session: _Session, at: int) -> list[Event]:
        known = session.station.orders
        if not known:
            return []
        out: list[Event] = []
        for release in known.values():
            gone = pick_transfer.withdrawn(self.store.conn, release, self.store.node_id)
            if gone is not None:
                out.append(OrderUpdated(gone, at))
        for (body,) in self.store.conn.execute(
            "SELECT body FROM order_release WHERE order_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY order_id",
            (orjson.dumps(sorted(known)).decode(),),
        ):
            release = OrderRelease.model_validate_json(body)
            if release.version > known[release.order_id].version:
                if release.status == "released" and release.pick_node != self.store.node_id:
                    # Leased away: for this picker the order is withdrawn, like a cancel.
                    release = release.model_copy(
                        update={
                            "status": "cancelled",
                            "status_reason": f"pick leased to {release.pick_node}",
                        }
                    )
                out.append(OrderUpdated(release, at))
        return out

    def _run(self, session: _Session, event: Event) -> _Outcome:
        """Handle ``event`` and commit its records (inside the caller's ``atomic()``)."""
        commands: list[Command] = session.station.handle(event)
        pick_inputs.store(self.store.conn, session.id, session.inputs, event)
        session.inputs += 1
        return self._execute(session, commands)

    def _execute(self, session: _Session, commands: Sequence[Command]) -> _Outcome:
        out = _Outcome()
        for command in commands:
            if isinstance(command, Record):
                p = command.payload
                now = session.station.now_ms
                if isinstance(p, OrderPickedPayload) and is_transfer(
                    session.station.orders[p.order_id]
                ):
                    # A transfer's pick is its shipment (edge/runtimes/pick_transfer.py).
                    p = pick_transfer.shipped(
                        self.store.conn,
                        p,
                        session.station.orders[p.order_id],
                        self.store.node_id,
                    )
                if isinstance(p, Message):
                    done = journal.append_fact(self.store, p, now)
                    if done.seq is not None:
                        out.facts.append(done.seq)
                elif isinstance(p, Verdict):
                    journal.add_verdict(self.store.conn, p, now)
                    out.verdicts.append(p)
                elif isinstance(p, StockMovement):
                    # The key is deterministic (station:wave:stop:sku): a replay commits it once.
                    journal.add_movement(self.store.conn, p, now)
                else:
                    raise TypeError(f"pick station recorded a {type(p).__name__}: no table for it")
            elif isinstance(command, Show):
                out.shows.append(command)
            else:
                out.logs.append(command)
        return out

    def _act(
        self, session: _Session, event: Event, key: str | None, fp: str
    ) -> tuple[ActionResult, list[_Outcome], _Outcome]:
        try:
            with self.store.atomic():
                alerts = [self._run(session, u) for u in self._order_updates(session, event.at_ms)]
                outcome = self._run(session, event)
                result = self._finish(session, alerts, outcome, key, fp, event.at_ms)
        except BaseException:
            # Memory ran ahead of the rolled-back database: rebuild from the journal.
            self._open[session.id] = self._rebuild(session.id)
            raise
        if session.station.state is State.DONE:
            self._open.pop(session.id, None)
        return result, alerts, outcome

    def _finish(
        self,
        session: _Session,
        alerts: list[_Outcome],
        outcome: _Outcome,
        key: str | None,
        fp: str,
        at: int,
    ) -> ActionResult:
        st = session.station
        now = at
        self.store.conn.execute(
            "UPDATE pick_session SET state = ?, updated_ms = ? WHERE id = ?",
            (st.state.value, now, session.id),
        )
        show = outcome.shows[-1] if outcome.shows else None
        kind = outcome.verdicts[-1].kind if outcome.verdicts else "input.logged"
        result = ActionResult(
            verdict=api_verdict(kind, show.signal if show else None),
            kind=kind,
            signal=(show.signal if show else Signal.NOTICE).value,
            text=show.text if show else "",
            alerts=[
                Alert(
                    kind=a.verdicts[-1].kind if a.verdicts else "order.updated",
                    signal=s.signal.value,
                    text=s.text,
                )
                for a in alerts
                for s in a.shows
            ],
            wave=session.wave,
            state=st.state.value,
            expect=EXPECT.get(st.state),
            next=pick_views.stop_view(self.store.conn, st, st.index)
            if st.stop is not None
            else None,
            progress=pick_views.progress(st),
            facts=[seq for a in [*alerts, outcome] for seq in a.facts],
        )
        if key is not None:
            self.store.conn.execute(
                "INSERT INTO pick_request VALUES (?, ?, ?, ?, ?)",
                (session.operator, key, fp, result.model_dump_json().encode(), now),
            )
        return result

    def _resumed(self, session: _Session) -> ActionResult:
        st = session.station
        stop = st.stop
        text = f"wave {session.wave} resumed" + (
            f": go to bin {stop.bin}, pick {stop.qty - stop.got} × {stop.sku_code}"
            if stop is not None
            else ""
        )
        return ActionResult(
            verdict="ok",
            kind="wave.resumed",
            signal=Signal.PROMPT.value,
            text=text,
            alerts=[],
            wave=session.wave,
            state=st.state.value,
            expect=EXPECT.get(st.state),
            next=pick_views.stop_view(self.store.conn, st, st.index) if stop is not None else None,
            progress=pick_views.progress(st),
            facts=[],
        )

    def _after(
        self,
        session: _Session,
        action: str,
        result: ActionResult,
        alerts: Iterable[_Outcome],
        outcome: _Outcome,
        seconds: float | None,
    ) -> None:
        """After the commit: metrics and logs (never before: durable first)."""
        fields = {
            "station": session.station.station,
            "wave": session.wave,
            "operator": session.operator,
            "action": action,
        }
        for part in [*alerts, outcome]:
            for verdict in part.verdicts:
                metrics.observe_verdict(
                    verdict.kind, seconds if part is outcome else None, station="pick"
                )
            for line in part.logs:
                log.log(_LEVELS[line.level], line.text, extra=fields)
        log.info(
            "pick %s -> %s (%s): %s",
            action,
            result.kind,
            result.signal,
            result.text,
            extra={
                **fields,
                "verdict": result.verdict,
                "kind": result.kind,
                "facts": result.facts,
                "latency_ms": None if seconds is None else round(seconds * 1000, 2),
            },
        )


_LEVELS: Final = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
