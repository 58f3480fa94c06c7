"""The receiving and returns stations on a handheld (docs/pda.md "Receiving and returns").

The PDA pages for receiving (收货), QC (质检), putaway (上架) and returns (退货) drive the
very runtimes the fixed stations run (:class:`edge.runtimes.receive.ReceiveRuntime`,
:class:`edge.runtimes.returns.ReturnsRuntime`): one runtime per operator and kind, named
``<station>-<kind>-<operator>`` so each operator's open receipt is theirs alone and is
resumed from the store after a restart (``open_receipt`` by station name). A request is
one scanner line or one operator key (``FAIL:<reason>``, ``DAMAGED:<reason>``,
``FINISH``, ``ABANDON``), exactly as the station's scanner would deliver it: the same
lookups, the same state machine, the same records committed before the answer
(edge/runtimes/common.py). Nothing about receiving is decided here or in the page.

What is added for HTTP: the answer (the verdict's stable ``kind``, its signal and
sentence, and a view of the open receipt for the page to show) and idempotency: the
answer is stored in ``handheld_request`` in the step's own transaction, so a retry
under the same ``Idempotency-Key`` (the page's queue replaying after a lost answer,
docs/pick-api.md "Durability and retries") gets the first answer and commits nothing.

The handheld has no item label printer: its receiving runtime prints no labels
(``labels = "off"``); serials are still issued by the node for serial-tracked units.
"""

from __future__ import annotations

import datetime
import hashlib
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson
from pydantic import BaseModel

from edge.config import EdgeConfig
from edge.errors import EdgeError
from edge.runtimes import receive as rcv
from edge.runtimes import returns as ret
from edge.runtimes.common import ExtraTx
from edge.stations.common import Record, Show, Signal, Verdict
from edge.stations.receive import ReceiveStation
from edge.stations.receive_model import State as ReceiveState
from edge.stations.returns import ReturnsStation
from edge.store.migrations import HANDHELD_SCHEMA
from edge.store.store import Store
from protocol.messages import DownBatch

Kind = Literal["inbound", "returns"]
#: Lines an answer shows: the counted ones first, then the next ones expected.
MAX_VIEW_LINES: Final = 30
KINDS: Final[tuple[Kind, ...]] = ("inbound", "returns")

SCHEMA: Final = HANDHELD_SCHEMA  # also migration 0016; created here for older stores


class HandheldError(EdgeError):
    status = 409


# --- the answers ------------------------------------------------------------------------------


class LineView(BaseModel):
    sku_code: str
    name: str | None = None
    #: Units still expected (PO: ordered less received before; return: asked back).
    expected: int
    #: Units counted in this receipt, passed (sellable) and failed (damaged).
    passed: int = 0
    failed: int = 0


class PutawayView(BaseModel):
    sku_code: str
    verdict: str
    reason: str | None = None
    qty: int
    #: The station's suggestion (edge/stations/receive.py ``suggest``); null: none fits.
    bin: str | None = None
    zone: str | None = None


class DeskView(BaseModel):
    """The operator's open receipt as the page shows it. ``receipt_id`` null: none open."""

    kind: Kind
    state: str
    receipt_id: str | None = None
    document: str | None = None
    #: po / transfer / return
    document_kind: str | None = None
    source: str | None = None
    #: The reason keyed for the next item (QC fail or damaged), if any.
    reason: str | None = None
    lines: list[LineView] = []
    #: Lines of the document; ``lines`` holds at most MAX_VIEW_LINES of them.
    lines_total: int = 0
    putaway: PutawayView | None = None
    groups: int = 0
    placed: int = 0


class DeskResult(BaseModel):
    """One request's answer: the station's verdict (``kind`` its stable code, e.g.
    ``item.pass``, ``po.not_open``), signal and sentence, and the receipt after it."""

    kind: str
    signal: str
    #: The sentence in English (the station's light and journal).
    text: str
    #: The same sentence as message ids and parameters (edge/stations/sentences.py): the
    #: page says it in its own language. Parts in order, each
    #: ``{"msgid": ..., "params": {name: value | part | [parts]}}``.
    said: list[dict[str, Any]] = []
    sku_code: str | None = None
    view: DeskView
    replayed: bool = False


def _receive_view(st: ReceiveStation) -> DeskView:
    view = DeskView(kind="inbound", state=st.state.value, receipt_id=st.receipt_id)
    po = st.po
    if po is None or st.receipt_id is None:
        return view
    view.document = po.release.po_number
    view.document_kind = po.document
    view.source = po.origin if po.document == "transfer" else po.release.supplier
    view.reason = st.fail_reason
    failed: dict[str, int] = {}
    for (sku, verdict, _), n in st.group_sizes.items():
        if verdict == "fail":
            failed[sku] = failed.get(sku, 0) + n
    # The lines counted in this receipt, then the first ones still to come, at most
    # MAX_VIEW_LINES: a scan's answer stays small on a 500-line PO (and the PDA's screen).
    shown = [st.lines[s] for s in st.tally if s in st.lines][:MAX_VIEW_LINES]
    for ln in po.release.lines:
        if len(shown) >= MAX_VIEW_LINES:
            break
        if ln.sku_code not in st.tally:
            shown.append(ln)
    # model_construct: the figures are the station's own, already valid (no per-scan
    # validation of up to MAX_VIEW_LINES models).
    view.lines = [
        LineView.model_construct(
            sku_code=ln.sku_code,
            name=ln.name,
            expected=max(0, ln.expected - po.pending.get(ln.sku_code, 0)),
            passed=st.counted(ln.sku_code) - failed.get(ln.sku_code, 0),
            failed=failed.get(ln.sku_code, 0),
        )
        for ln in shown
    ]
    view.lines_total = len(po.release.lines)
    view.groups = len(st.group_sizes)
    view.placed = len(st.placed)
    if st.state is ReceiveState.PUTAWAY:
        open_ = st.open_groups()
        if open_:
            key = open_[0]
            where = st.suggest(key)
            view.putaway = PutawayView(
                sku_code=key[0],
                verdict=key[1],
                reason=key[2] or None,
                qty=st.group_sizes.get(key, 0),
                bin=where.code if where else None,
                zone=where.zone if where else None,
            )
    return view


def _returns_view(st: ReturnsStation) -> DeskView:
    view = DeskView(kind="returns", state=st.state.value)
    o = st.open
    if o is None:
        return view
    rel = o.view.release
    view.receipt_id = o.receipt_id
    view.document = rel.request
    view.document_kind = rel.kind
    view.source = rel.order_id
    view.reason = st.damage_reason
    damaged: dict[int, int] = {}
    for u in o.units:
        if u.condition == "damaged":
            damaged[u.line_no] = damaged.get(u.line_no, 0) + 1
    view.lines = [
        LineView(
            sku_code=ln.sku_code,
            name=ln.name,
            expected=ln.qty,
            passed=o.counted.get(ln.line_no, 0) - damaged.get(ln.line_no, 0),
            failed=damaged.get(ln.line_no, 0),
        )
        for ln in rel.lines[:MAX_VIEW_LINES]
    ]
    view.lines_total = len(rel.lines)
    return view


# --- the runtimes, answering ----------------------------------------------------------------


class _Capture:
    """The lights of a handheld: what the step showed goes into the answer."""

    def __init__(self) -> None:
        self.shown: list[tuple[Signal, str]] = []

    def show(self, signal: Signal, text: str) -> None:
        self.shown.append((signal, text))

    def close(self) -> None:
        pass


@dataclass
class _Request:
    operator: str
    key: str | None
    fingerprint: str
    verdict: Verdict | None = None
    shows: list[Show] = field(default_factory=list)
    answered: bool = False
    failed: bool = False
    result: DeskResult | None = None


class _Answering:
    """Mixed into a station runtime: records the request's answer inside the step's
    transaction (``before_commit``), after the step's own records."""

    desk_kind: Kind
    request: _Request | None = None

    def execute(
        self, commands: list[object], event: object = None, extra_tx: ExtraTx | None = None
    ) -> bool:
        ok: bool = super().execute(commands, event, extra_tx)  # type: ignore[misc]
        if not ok and self.request is not None:
            self.request.failed = True
        return ok

    def view(self) -> DeskView:  # pragma: no cover - each kind has its own
        raise NotImplementedError

    def answer(self, req: _Request) -> DeskResult:
        show = req.shows[-1] if req.shows else None
        return DeskResult(
            kind=req.verdict.kind if req.verdict is not None else "input.logged",
            signal=(show.signal if show else Signal.NOTICE).value,
            text=show.text if show else "",
            said=[p.plain() for p in req.verdict.said] if req.verdict is not None else [],
            sku_code=req.verdict.sku_code if req.verdict is not None else None,
            view=self.view(),
        )

    def store_answer(self, conn: sqlite3.Connection, commands: list[object]) -> None:
        req = self.request
        if req is None or req.answered:
            return
        for c in commands:
            if isinstance(c, Record) and isinstance(c.payload, Verdict):
                req.verdict = c.payload
            elif isinstance(c, Show):
                req.shows.append(c)
        # Made once: stored for a retry and returned.
        req.result = self.answer(req)
        if req.key is not None:
            body = req.result.model_dump_json().encode()
            conn.execute(
                "INSERT INTO handheld_request VALUES (?, ?, ?, ?, ?)",
                (req.operator, req.key, req.fingerprint, body, int(time.time() * 1000)),
            )
        req.answered = True


class _Receiving(_Answering, rcv.ReceiveRuntime):
    desk_kind = "inbound"

    def before_commit(
        self, conn: sqlite3.Connection, event: object, commands: list[object]
    ) -> None:
        super().before_commit(conn, event, commands)
        self.store_answer(conn, commands)

    def view(self) -> DeskView:
        return _receive_view(self.station)

    def refresh(self) -> None:
        # Counters are the node's, shared by every operator's receipts.
        self.station.next_receipt, self.station.next_serial = rcv.counters(self.store.conn)


class _Returning(_Answering, ret.ReturnsRuntime):
    desk_kind = "returns"

    def before_commit(
        self, conn: sqlite3.Connection, event: object, commands: list[object]
    ) -> None:
        super().before_commit(conn, event, commands)
        self.store_answer(conn, commands)

    def view(self) -> DeskView:
        return _returns_view(self.station)

    def refresh(self) -> None:
        self.station.next_receipt = ret.counter(self.store.conn)


_Runtime = _Receiving | _Returning


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


class HandheldDesks:
    """Receiving and returns for the PDA pages over one :class:`Store`, serialised by
    ``lock`` (the pick service's: one writer for the node's store)."""

    def __init__(
        self,
        store: Store,
        *,
        station: str,
        warehouse: str | None,
        lock: threading.Lock | None = None,
        wall_ms: Callable[[], int] | None = None,
        kick: Callable[[], None] = lambda: None,
        command_prefix: str = "#GJ:",
        idempotency_ttl_s: float = 24 * 3600.0,
    ) -> None:
        self.store = store
        self.station = station
        self.warehouse = warehouse
        self.lock = lock or threading.Lock()
        self.wall_ms = wall_ms or (lambda: time.time_ns() // 1_000_000)
        self.kick = kick
        self.prefix = command_prefix
        self._runtimes: dict[tuple[Kind, str], _Runtime] = {}
        with self.lock, store.atomic() as conn:
            conn.execute(SCHEMA)
            conn.execute(
                "DELETE FROM handheld_request WHERE at_ms < ?",
                (self.wall_ms() - int(idempotency_ttl_s * 1000),),
            )

    def _any_warehouse(self) -> str:
        row = self.store.conn.execute("SELECT warehouse FROM bin ORDER BY code LIMIT 1").fetchone()
        return str(row[0]) if row else "?"

    def _runtime(self, kind: Kind, operator: str) -> _Runtime:
        found = self._runtimes.get((kind, operator))
        if found is not None:
            return found
        name = f"{self.station}-{'receive' if kind == 'inbound' else 'returns'}-{operator}"
        if len(name) > 64:  # a station name's limit: cut, and told apart by a digest
            name = name[:55] + "-" + hashlib.sha256(operator.encode()).hexdigest()[:8]
        # A node limited to no warehouse: the one its bins are of (read when first needed).
        wh = self.warehouse or self._any_warehouse()
        section = {"warehouse": wh, "operator": operator}
        if kind == "inbound":
            section["labels"] = "off"
        cfg = EdgeConfig.model_validate(
            {
                "node": {"id": self.store.node_id, "data_dir": "."},
                "station": {"kind": kind, "name": name, "command_prefix": self.prefix},
                "receive" if kind == "inbound" else "returns": section,
            }
        )
        rt: _Runtime
        if kind == "inbound":
            rt = _Receiving(self.store, _Capture(), cfg, kick=self.kick, clock_ms=self.wall_ms)
            resumed = rcv.open_receipt(self.store.conn, name, self.wall_ms())
        else:
            rt = _Returning(self.store, _Capture(), cfg, kick=self.kick, clock_ms=self.wall_ms)
            resumed = ret.open_receipt(self.store.conn, name, self.wall_ms())  # type: ignore[assignment]
        rt._year = datetime.datetime.fromtimestamp(self.wall_ms() / 1000).year
        if resumed is not None:
            rt.dispatch(resumed)  # its answer is nobody's: the page asks for the view
        self._runtimes[(kind, operator)] = rt
        return rt

    def on_down_applied(self, batch: DownBatch) -> None:
        """Downlink hook (edge/sync.py, wired by edge/node.py on a pick node): a newer
        release of a document open on a handheld reaches its station now, as at a dock."""
        with self.lock:
            for rt in self._runtimes.values():
                rt.on_down_applied(batch)

    # --- requests --------------------------------------------------------------------------

    def current(self, kind: Kind, operator: str) -> DeskView:
        with self.lock:
            return self._runtime(kind, operator).view()

    def scan(self, kind: Kind, operator: str, barcode: str, key: str | None = None) -> DeskResult:
        """One scanner line: a document, an item, a bin, as the station's scanner sends it."""
        return self._act(kind, operator, key, ("scan", barcode), lambda rt: rt.on_text(barcode))

    def key(self, kind: Kind, operator: str, text: str, key: str | None = None) -> DeskResult:
        """One operator key (``FAIL:<reason>``, ``DAMAGED:<reason>``, ``FINISH``, ``ABANDON``)."""
        return self._act(kind, operator, key, ("key", text), lambda rt: rt.on_key(text))

    def _act(
        self,
        kind: Kind,
        operator: str,
        key: str | None,
        what: tuple[str, str],
        step: Callable[[_Runtime], None],
    ) -> DeskResult:
        fp = _fingerprint(kind, *what)
        with self.lock:
            if key is not None:
                row = self.store.conn.execute(
                    "SELECT fingerprint, response FROM handheld_request WHERE operator = ? "
                    "AND key = ?",
                    (operator, key),
                ).fetchone()
                if row is not None:
                    if row[0] != fp:
                        raise HandheldError(
                            "this Idempotency-Key was already used for a different request",
                            code="idempotency_key_reused",
                        )
                    found = DeskResult.model_validate_json(row[1])
                    return found.model_copy(update={"replayed": True})
            rt = self._runtime(kind, operator)
            rt.refresh()
            req = _Request(operator, key, fp)
            rt.request = req
            try:
                step(rt)
            finally:
                rt.request = None
            if req.failed or not req.answered:
                # The step's commit failed: nothing of it is on disk (the runtime took its
                # state back from the store).
                raise HandheldError(
                    "the node's store failed: scan again, or call a lead",
                    code="store_failed",
                    status=503,
                )
            return req.result if req.result is not None else rt.answer(req)
