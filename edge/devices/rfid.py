"""LLRP RFID reader driver: sllurp 3.x client bridged into asyncio, plus a pure tag aggregator.

sllurp 3.x (:class:`sllurp.llrp.LLRPReaderClient`) runs its own thread with a
blocking ``select()`` loop and calls our callbacks from that thread. Every
callback only does ``loop.call_soon_threadsafe(queue.put_nowait, ...)``; all
state lives on the asyncio side in one :class:`RfidReader` owner object.

Failure handling (docs/devices/rfid.md):

* connect refused / timed out, the reader closing the socket, sllurp's thread
  dying on bytes it cannot parse, or the reader going silent for longer than
  three keepalive intervals -> ``health.connected = False``, capped jittered
  backoff, reconnect; the first failure and the recovery are logged once.
* reads for antennas that are not configured are counted
  (``health.extra["unknown_antenna_reads"]``) and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from edge.devices.base import AvailabilityLog, DeviceError, DeviceHealth, reconnect_backoff
from protocol.backoff import Backoff

log = logging.getLogger(__name__)

LLRP_PORT = 5084


# ------------------------------------------------------------- aggregation


@dataclass(slots=True)
class TagState:
    """Everything known about one EPC. Times are local epoch seconds."""

    epc: str
    first_seen: float
    last_seen: float
    count: int
    rssi: float | None
    antenna: int | None
    present: bool = True
    reader_last_seen_us: int | None = None


@dataclass(frozen=True, slots=True)
class TagEvent:
    kind: Literal["arrived", "departed"]
    tag: TagState


class TagAggregator:
    """Folds sllurp TagReportData dicts into per-EPC state. Pure: no threads, no I/O.

    * ``count`` sums TagSeenCount (1 when the reader does not report it);
    * ``rssi`` is an exponentially weighted moving average of PeakRSSI with
      weight ``rssi_alpha`` for the newest report;
    * a tag not seen for ``depart_after_s`` is *departed* at the next
      :meth:`sweep`; seeing it again makes it arrive again.
    """

    def __init__(
        self,
        depart_after_s: float = 3.0,
        rssi_alpha: float = 0.3,
        antennas: Collection[int] | None = None,
    ) -> None:
        if not 0 < rssi_alpha <= 1:
            raise ValueError("rssi_alpha must be in (0, 1]")
        self.depart_after_s = depart_after_s
        self.rssi_alpha = rssi_alpha
        self.antennas = frozenset(antennas) if antennas is not None else None
        self.tags: dict[str, TagState] = {}
        self.dirty: set[str] = set()
        self.ignored_reads = 0
        self.reads = 0

    def ingest(self, reports: Iterable[Mapping[str, Any]], now: float) -> list[TagEvent]:
        """Add one RO_ACCESS_REPORT's TagReportData; return arrivals."""
        events: list[TagEvent] = []
        tags = self.tags
        dirty = self.dirty
        allowed = self.antennas
        alpha = self.rssi_alpha
        for rep in reports:
            epc_raw = rep.get("EPC") or rep.get("EPC-96")
            if epc_raw is None:
                self.ignored_reads += 1
                continue
            antenna = rep.get("AntennaID")
            if allowed is not None and antenna is not None and antenna not in allowed:
                self.ignored_reads += 1
                continue
            epc = epc_raw.decode("ascii") if isinstance(epc_raw, bytes) else str(epc_raw)
            count = rep.get("TagSeenCount") or 1
            rssi = rep.get("PeakRSSI")
            self.reads += count
            st = tags.get(epc)
            if st is None:
                st = TagState(epc, now, now, count, rssi, antenna)
                tags[epc] = st
                events.append(TagEvent("arrived", replace(st)))
            else:
                st.count += count
                st.last_seen = now
                if antenna is not None:
                    st.antenna = antenna
                if rssi is not None:
                    st.rssi = rssi if st.rssi is None else st.rssi + alpha * (rssi - st.rssi)
                if not st.present:
                    st.present = True
                    events.append(TagEvent("arrived", replace(st)))
            last_us = rep.get("LastSeenTimestampUTC")
            if last_us is not None:
                st.reader_last_seen_us = last_us
            dirty.add(epc)
        return events

    def sweep(self, now: float) -> list[TagEvent]:
        """Mark tags unseen for ``depart_after_s`` as departed; return departures."""
        cutoff = now - self.depart_after_s
        events = []
        for st in self.tags.values():
            if st.present and st.last_seen < cutoff:
                st.present = False
                self.dirty.add(st.epc)
                events.append(TagEvent("departed", replace(st)))
        return events

    def present(self) -> list[TagState]:
        return [replace(st) for st in self.tags.values() if st.present]

    def take_dirty(self) -> list[TagState]:
        """States changed since the last call (for batched store upserts)."""
        out = [self.tags[e] for e in self.dirty]
        self.dirty = set()
        return out


# ------------------------------------------------------------------ driver


class LLRPClientLike(Protocol):
    """The part of :class:`sllurp.llrp.LLRPReaderClient` the driver uses."""

    def add_tag_report_callback(self, cb: Callable[..., None]) -> None: ...
    def add_disconnected_callback(self, cb: Callable[..., None]) -> None: ...
    def add_state_callback(self, state: int, cb: Callable[..., None]) -> None: ...
    def add_message_callback(self, msg_type: str, cb: Callable[..., None]) -> None: ...
    def connect(self) -> None: ...
    def disconnect(self, timeout: float = 0) -> None: ...
    def hard_disconnect(self) -> None: ...
    def is_alive(self) -> bool: ...
    def join(self, timeout: float | None = None) -> None: ...


ClientFactory = Callable[[str, int, dict[str, Any]], LLRPClientLike]


def sllurp_client(host: str, port: int, config: dict[str, Any]) -> LLRPClientLike:
    from sllurp.llrp import LLRPReaderClient, LLRPReaderConfig

    client: LLRPClientLike = LLRPReaderClient(host, port, LLRPReaderConfig(config), timeout=3.0)
    return client


def _inventorying_state() -> int:
    from sllurp.llrp import LLRPReaderState

    return int(LLRPReaderState.STATE_INVENTORYING)


class RfidReader:
    """One LLRP reader. ``await run()`` until ``await stop()``; never raises from ``run``.

    Arrivals and departures are put on :attr:`events`; :meth:`present`
    snapshots the tags in the field; :attr:`health` says whether it works.
    """

    def __init__(
        self,
        host: str,
        port: int = LLRP_PORT,
        *,
        name: str = "rfid",
        antennas: Collection[int] = (1,),
        report_every_n_tags: int = 32,
        report_timeout_ms: int = 250,
        keepalive_ms: int = 1000,
        depart_after_s: float = 3.0,
        rssi_alpha: float = 0.3,
        connect_timeout_s: float = 5.0,
        sweep_interval_s: float = 0.25,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        client_factory: ClientFactory = sllurp_client,
    ) -> None:
        self.host = host
        self.port = port
        self.name = name
        self.antennas = tuple(antennas)
        self.keepalive_ms = keepalive_ms
        self.connect_timeout_s = connect_timeout_s
        self.sweep_interval_s = sweep_interval_s
        self.health = DeviceHealth(name=name, kind="rfid")
        self.health.extra.update(unknown_antenna_reads=0, tags_present=0, reports=0)
        self._avail = AvailabilityLog(self.health, log)
        self.backoff = backoff or reconnect_backoff(base=0.2, cap=10.0)
        self.aggregator = TagAggregator(depart_after_s, rssi_alpha, self.antennas)
        self.events: asyncio.Queue[TagEvent] = asyncio.Queue()
        self._clock = clock
        self._factory = client_factory
        self._stop = asyncio.Event()
        self._client: LLRPClientLike | None = None
        self.sessions = 0
        self.reports = 0
        self.config: dict[str, Any] = {
            "antennas": list(self.antennas),
            "report_every_n_tags": report_every_n_tags,
            "report_timeout_ms": report_timeout_ms,
            "keepalive_interval": keepalive_ms,
            "start_inventory": True,
            "reset_on_connect": True,
            "reconnect": False,  # we reconnect ourselves, with backoff
            "tag_content_selector": {
                "EnableROSpecID": False,
                "EnableSpecIndex": False,
                "EnableInventoryParameterSpecID": False,
                "EnableAntennaID": True,
                "EnableChannelIndex": False,
                "EnablePeakRSSI": True,
                "EnableFirstSeenTimestamp": True,
                "EnableLastSeenTimestamp": True,
                "EnableTagSeenCount": True,
                "EnableAccessSpecID": False,
            },
        }

    def present(self) -> list[TagState]:
        return self.aggregator.present()

    async def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Connect, inventory, and reconnect forever until :meth:`stop`."""
        self._stop.clear()
        while not self._stop.is_set():
            try:
                await self._session()
            except DeviceError as err:
                self._avail.failed(err.reason)
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.backoff.next_delay())
        self.health.connected = False

    # -------------------------------------------------------------- session

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def post(kind: str, payload: Any = None) -> None:
            # Runs on sllurp's thread: only hand over to the event loop.
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(inbox.put_nowait, (kind, payload))

        try:
            client = self._factory(self.host, self.port, dict(self.config))
            client.add_tag_report_callback(lambda _r, tags: post("tags", tags))
            client.add_disconnected_callback(lambda _r: post("down"))
            client.add_state_callback(_inventorying_state(), lambda _r, _s: post("up"))
            client.add_message_callback("KEEPALIVE", lambda _r, _m: post("alive"))
        except Exception as err:
            raise DeviceError(self.name, f"cannot set up LLRP client: {err}") from err
        self._client = client
        try:
            try:
                await asyncio.wait_for(asyncio.to_thread(client.connect), self.connect_timeout_s)
            except TimeoutError as err:
                raise DeviceError(
                    self.name, f"connect to {self.host}:{self.port} timed out"
                ) from err
            except Exception as err:  # sllurp raises socket and config errors as-is
                raise DeviceError(
                    self.name, f"connect to {self.host}:{self.port} failed: {err}"
                ) from err
            await self._pump(client, inbox)
        finally:
            self._client = None
            await self._teardown(client)

    async def _pump(self, client: LLRPClientLike, inbox: asyncio.Queue[tuple[str, Any]]) -> None:
        up = False
        started = time.monotonic()
        heard = started
        # Three missed keepalives mean a dead or wedged connection.
        silence_limit = max(3 * self.keepalive_ms / 1000, 1.0)
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                kind, payload = await asyncio.wait_for(inbox.get(), self.sweep_interval_s)
            except TimeoutError:
                kind, payload = "tick", None
            mono = time.monotonic()
            if kind == "tags":
                heard = mono
                self._ingest(payload)
            elif kind == "alive":
                heard = mono
            elif kind == "up":
                up, heard = True, mono
                self.sessions += 1
                self.backoff.reset()
                self._avail.recovered()
            elif kind == "down":
                raise DeviceError(self.name, "reader closed the connection")
            if mono >= next_sweep:
                next_sweep = mono + self.sweep_interval_s
                for ev in self.aggregator.sweep(self._clock()):
                    self.events.put_nowait(ev)
                self.health.extra["tags_present"] = sum(
                    1 for t in self.aggregator.tags.values() if t.present
                )
                if not client.is_alive():
                    raise DeviceError(self.name, "LLRP client stopped (undecodable data?)")
                if not up and mono - started > self.connect_timeout_s:
                    raise DeviceError(
                        self.name, "reader did not start inventory (handshake stalled)"
                    )
                if up and mono - heard > silence_limit:
                    raise DeviceError(self.name, f"reader silent for {mono - heard:.1f} s")

    def _ingest(self, tags: Any) -> None:
        now = self._clock()
        agg = self.aggregator
        before = agg.ignored_reads
        try:
            events = agg.ingest(tags, now)
        except (TypeError, AttributeError, ValueError) as err:
            # sllurp handed us something unexpected; count it, keep running.
            self.health.errors += 1
            self.health.last_error = f"bad tag report: {err}"
            return
        if agg.ignored_reads != before:
            log.debug("%s: ignored %d reads", self.name, agg.ignored_reads - before)
        self.health.extra["unknown_antenna_reads"] = agg.ignored_reads
        self.reports += 1
        self.health.extra["reports"] = self.reports
        self.health.last_reading_at = now
        for ev in events:
            self.events.put_nowait(ev)

    async def _teardown(self, client: LLRPClientLike) -> None:
        polite = self._stop.is_set() and client.is_alive()
        try:
            if polite:
                # DELETE_ACCESSSPEC / DELETE_ROSPEC then close (sllurp stopPolitely).
                await asyncio.to_thread(client.disconnect, 1.0)
            await asyncio.to_thread(client.hard_disconnect)
            await asyncio.to_thread(client.join, 2.0)
        except Exception as err:  # teardown must never mask the real failure
            log.debug("%s: teardown error %s", self.name, err)
