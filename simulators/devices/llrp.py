"""An LLRP 1.0.1 RFID reader on TCP that real clients (sllurp 3.x) inventory unchanged.

What it does, with the LLRP 1.0.1 section each rule comes from:

* On accept it sends READER_EVENT_NOTIFICATION with ConnectionAttemptEvent
  Success (§13.2.6.11 / §16.2.7.6.10); a second client gets "Failed (a client
  initiated connection already exists)" and is closed.
* GET_READER_CAPABILITIES -> capabilities (antenna count, power table, RF mode
  table, §16.1.2); GET_READER_CONFIG, SET_READER_CONFIG (KeepaliveSpec,
  ROReportSpec), ENABLE_EVENTS_AND_REPORTS (no reply, §16.1.36), ADD / ENABLE /
  START / STOP / DISABLE / DELETE_ROSPEC with the ROSpec state machine of
  §10.2.1 (Immediate start trigger starts on enable), DELETE_ACCESSSPEC,
  KEEPALIVE at the configured interval (§16.1.35), CLOSE_CONNECTION.
* Inventory: every simulated round each present tag is singulated on each of
  its antennas that the AISpec uses; RO_ACCESS_REPORTs follow the ROReportSpec
  (N TagReportData per report, or at the end of the AISpec, §13.2.1) with the
  fields its TagReportContentSelector asks for.
* Bad bytes: a frame the codec rejects gets ERROR_MESSAGE and the connection
  closes (LLRP has no resync marker); other clients and the server carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer

from protocol.devices import llrp
from protocol.devices.llrp import (
    AIStopTrigger,
    ConnectionAttemptStatus,
    KeepaliveSpec,
    KeepaliveTrigger,
    LLRPStatus,
    MessageType,
    ReportTrigger,
    ROReportSpec,
    ROSpec,
    ROSpecState,
    StartTrigger,
    StatusCode,
    StopTrigger,
    TagReport,
)
from protocol.errors import NeedData, RemoteProtocolError
from simulators.devices.llrp_scenario import Scenario, ScenarioTag

log = logging.getLogger(__name__)

#: Hundredths of dBm, 10.00 .. 32.50 dBm in 0.25 dB steps, like a 4-port reader.
_POWER_TABLE = tuple((i + 1, 1000 + 25 * i) for i in range(91))
_RF_MODES = (
    llrp.RFMode(mode_id=0, bdr=640000, pie=1500, min_tari=6250, max_tari=6250),
    llrp.RFMode(mode_id=2, m=4, bdr=274000, pie=2000, min_tari=20000, max_tari=20000),
)


def _crc16_c1g2(data: bytes) -> int:
    """CRC-16 of EPC Gen2 (ISO/IEC 13239: poly 0x1021, preset 0xFFFF, inverted)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc ^ 0xFFFF


@dataclass(slots=True)
class _Seen:
    first_us: int
    last_us: int
    count: int
    peak: int


@dataclass(slots=True)
class _SpecRun:
    spec: ROSpec
    state: int = ROSpecState.DISABLED
    task: asyncio.Task[None] | None = None
    # Reads not yet reported, per (EPC, antenna); GET_REPORT (§16.1.30) flushes it.
    buffer: dict[tuple[bytes, int], _Seen] = field(default_factory=dict)


@dataclass(slots=True)
class _Session:
    writer: asyncio.StreamWriter
    peer: str
    keepalive: KeepaliveSpec = field(default_factory=KeepaliveSpec)
    report_spec: ROReportSpec | None = None
    rospecs: dict[int, _SpecRun] = field(default_factory=dict)
    keepalive_task: asyncio.Task[None] | None = None
    next_id: int = 1000
    closed: bool = False


class LLRPReaderSimulator:
    """In-process LLRP reader: ``await start()``, drive it, ``await stop()``.

    ``clock`` gives epoch seconds for timestamps; ``rng`` draws reads and RSSI.
    ``speed`` > 1 runs simulated rounds faster than real time.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        host: str = "127.0.0.1",
        port: int = llrp.LLRP_PORT,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        speed: float = 1.0,
    ) -> None:
        self.scenario = scenario or Scenario()
        self.host = host
        self._port = port
        self._clock = clock
        self._rng = rng or random.Random()
        self.speed = speed
        self._sim_us = 0  # integer microseconds, so 10 x 50 ms is exactly 0.5 s
        self._epoch0 = clock()
        self._server: asyncio.Server | None = None
        self._session: _Session | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        # Observable counters for tests and the CLI.
        self.connections = 0
        self.keepalive_acks = 0
        self.rounds = 0
        self.reports_sent = 0
        self.protocol_errors: list[str] = []
        self.received: list[str] = []

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, self.host, self._port)
        log.info("LLRP reader simulator listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop_clients()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> LLRPReaderSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------ scripted state

    def set_scenario(self, scenario: Scenario) -> None:
        self.scenario = scenario

    def add_tag(self, tag: ScenarioTag) -> None:
        self.scenario.tags.append(tag)

    def remove_tag(self, epc_hex: str) -> None:
        want = bytes.fromhex(epc_hex)
        self.scenario.tags = [t for t in self.scenario.tags if t.epc_bytes != want]

    @property
    def connected(self) -> bool:
        return self._session is not None and not self._session.closed

    async def inject(self, raw: bytes) -> None:
        """Send raw bytes to the connected client (fault injection)."""
        if self._session is not None:
            self._session.writer.write(raw)
            await self._session.writer.drain()

    async def send_report(self, tags: Sequence[TagReport]) -> None:
        """Send an RO_ACCESS_REPORT with exactly these TagReportData (fault injection)."""
        if self._session is not None:
            await self._send(self._session, llrp.ROAccessReport(tags=tuple(tags)))

    async def drop_clients(self) -> None:
        """Abort every connection, as a reader reboot would."""
        if self._session is not None:
            await self._close(self._session, abort=True)
        if self._handlers:
            # Aborted transports end the handlers' reads; cancel only stragglers
            # (a cancelled start_server handler task is logged as an error).
            _, pending = await asyncio.wait(set(self._handlers), timeout=1.0)
            for task in pending:
                task.cancel()

    # ----------------------------------------------------------- connection

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        peer = str(writer.get_extra_info("peername"))
        try:
            await self._serve(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            log.info("LLRP client %s went away: %s", peer, err)
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        now_us = self._now_us()
        if self.connected:
            # §13.2.6.11: only one client connection at a time.
            writer.write(
                llrp.encode(
                    llrp.ReaderEventNotification(
                        timestamp_us=now_us,
                        connection_attempt=ConnectionAttemptStatus.FAILED_CLIENT_INITIATED_EXISTS,
                    )
                )
            )
            await writer.drain()
            return
        session = _Session(writer=writer, peer=peer)
        self._session = session
        self.connections += 1
        await self._send(
            session,
            llrp.ReaderEventNotification(
                timestamp_us=now_us, connection_attempt=ConnectionAttemptStatus.SUCCESS
            ),
        )
        decoder = llrp.LLRPDecoder()
        try:
            while not session.closed:
                data = await reader.read(65536)
                if not data:
                    return
                decoder.feed(data)
                while not session.closed:
                    try:
                        msg = decoder.next_message()
                    except RemoteProtocolError as err:
                        self.protocol_errors.append(str(err))
                        log.warning("LLRP client %s sent a bad frame: %s", peer, err)
                        await self._send(
                            session,
                            llrp.ErrorMessage(
                                status=LLRPStatus(StatusCode.M_PARAMETER_ERROR, str(err)[:200])
                            ),
                        )
                        return
                    if isinstance(msg, NeedData):
                        break
                    await self._handle(session, msg)
        finally:
            await self._close(session)

    async def _close(self, session: _Session, abort: bool = False) -> None:
        if session.closed:
            return
        session.closed = True
        if self._session is session:
            self._session = None
        tasks = [r.task for r in session.rospecs.values() if r.task is not None]
        if session.keepalive_task is not None:
            tasks.append(session.keepalive_task)
        current = asyncio.current_task()
        for t in tasks:
            if t is not current:
                t.cancel()
        if abort:
            transport = session.writer.transport
            transport.abort()
        else:
            session.writer.close()

    async def _send(self, session: _Session, msg: llrp.LLRPMessage) -> None:
        if session.closed:
            return
        session.writer.write(llrp.encode(msg))
        try:
            await session.writer.drain()
        except ConnectionError:
            await self._close(session, abort=True)

    @property
    def sim_time(self) -> float:
        """Simulated seconds of inventory since the simulator was created."""
        return self._sim_us / 1_000_000

    def _now_us(self) -> int:
        return int(self._epoch0 * 1_000_000) + self._sim_us

    # ------------------------------------------------------------- messages

    def _capabilities(self) -> llrp.ReaderCapabilities:
        return llrp.ReaderCapabilities(
            max_antennas=self.scenario.antennas,
            firmware="guanjia-sim 1.0",
            tx_power_table=_POWER_TABLE,
            hopping=True,
            hop_tables=((1, (902750, 915250, 927250)),),
            rf_modes=_RF_MODES,
            llrp=llrp.LLRPCapabilities(max_rospecs=4, max_specs_per_rospec=4),
        )

    async def _handle(self, s: _Session, msg: llrp.LLRPMessage) -> None:
        mid = msg.message_id
        self.received.append(type(msg).__name__)
        ok = llrp.LLRPStatus()
        if isinstance(msg, llrp.GetReaderCapabilities):
            await self._send(
                s,
                llrp.GetReaderCapabilitiesResponse(
                    message_id=mid, capabilities=self._capabilities()
                ),
            )
        elif isinstance(msg, llrp.GetReaderConfig):
            await self._send(
                s,
                llrp.GetReaderConfigResponse(
                    message_id=mid, reader_id=b"\x00\x16\x25\x12\x34\x56", keepalive=s.keepalive
                ),
            )
        elif isinstance(msg, llrp.SetReaderConfig):
            if msg.reset_to_factory_defaults:
                await self._delete_rospecs(s, 0)
                s.keepalive, s.report_spec = KeepaliveSpec(), None
            if msg.report_spec is not None:
                s.report_spec = msg.report_spec
            if msg.keepalive is not None:
                self._set_keepalive(s, msg.keepalive)
            await self._send(s, llrp.SetReaderConfigResponse(message_id=mid))
        elif isinstance(msg, llrp.EnableEventsAndReports):
            pass  # §16.1.36: no response
        elif isinstance(msg, llrp.AddROSpec):
            await self._send(s, llrp.AddROSpecResponse(message_id=mid, status=self._add(s, msg)))
        elif isinstance(msg, llrp.EnableROSpec):
            st = self._transition(s, msg.rospec_id, ROSpecState.INACTIVE, "enable")
            if st.ok:
                run = s.rospecs[msg.rospec_id]
                if run.spec.start_trigger == StartTrigger.IMMEDIATE:
                    self._activate(s, run)
            await self._send(s, llrp.EnableROSpecResponse(message_id=mid, status=st))
        elif isinstance(msg, llrp.StartROSpec):
            st = self._transition(s, msg.rospec_id, ROSpecState.ACTIVE, "start")
            await self._send(s, llrp.StartROSpecResponse(message_id=mid, status=st))
            if st.ok:
                self._activate(s, s.rospecs[msg.rospec_id])
        elif isinstance(msg, llrp.StopROSpec):
            st = self._transition(s, msg.rospec_id, ROSpecState.INACTIVE, "stop")
            if st.ok:
                self._deactivate(s.rospecs[msg.rospec_id])
            await self._send(s, llrp.StopROSpecResponse(message_id=mid, status=st))
        elif isinstance(msg, llrp.DisableROSpec):
            st = self._transition(s, msg.rospec_id, ROSpecState.DISABLED, "disable")
            if st.ok:
                self._deactivate(s.rospecs[msg.rospec_id])
            await self._send(s, llrp.DisableROSpecResponse(message_id=mid, status=st))
        elif isinstance(msg, llrp.DeleteROSpec):
            st = await self._delete_rospecs(s, msg.rospec_id)
            await self._send(s, llrp.DeleteROSpecResponse(message_id=mid, status=st))
        elif isinstance(msg, llrp.DeleteAccessSpec):
            # No AccessSpecs are supported, so deleting "all" (0) always succeeds.
            await self._send(s, llrp.DeleteAccessSpecResponse(message_id=mid, status=ok))
        elif isinstance(msg, llrp.KeepaliveAck):
            self.keepalive_acks += 1
        elif isinstance(msg, llrp.CloseConnection):
            await self._send(s, llrp.CloseConnectionResponse(message_id=mid))
            await self._close(s)
        elif isinstance(msg, llrp.UnknownMessage) and msg.message_type == MessageType.GET_REPORT:
            for run in s.rospecs.values():
                await self._flush(s, run, _buffer_of(run))
        else:
            name = (
                f"message type {msg.message_type}"
                if isinstance(msg, llrp.UnknownMessage)
                else type(msg).__name__
            )
            await self._send(
                s,
                llrp.ErrorMessage(
                    message_id=mid,
                    status=LLRPStatus(
                        StatusCode.M_UNSUPPORTED_MESSAGE, f"{name} is not supported by this reader"
                    ),
                ),
            )

    def _add(self, s: _Session, msg: llrp.AddROSpec) -> LLRPStatus:
        spec = msg.rospec
        if spec.rospec_id == 0:
            return LLRPStatus(StatusCode.M_FIELD_ERROR, "ROSpecID 0 is reserved")
        if spec.rospec_id in s.rospecs:
            return LLRPStatus(StatusCode.M_FIELD_ERROR, f"ROSpecID {spec.rospec_id} exists")
        if spec.current_state != ROSpecState.DISABLED:
            # §10.2.1: a new ROSpec must be added in the Disabled state.
            return LLRPStatus(StatusCode.M_FIELD_ERROR, "CurrentState must be Disabled")
        if not spec.ai_specs:
            return LLRPStatus(StatusCode.M_MISSING_PARAMETER, "ROSpec has no AISpec")
        for ai in spec.ai_specs:
            bad = [a for a in ai.antenna_ids if a > self.scenario.antennas]
            if bad:
                return LLRPStatus(
                    StatusCode.M_FIELD_ERROR,
                    f"antenna {bad[0]} does not exist (reader has {self.scenario.antennas})",
                )
        s.rospecs[spec.rospec_id] = _SpecRun(spec)
        return LLRPStatus()

    def _transition(self, s: _Session, rospec_id: int, target: int, verb: str) -> LLRPStatus:
        run = s.rospecs.get(rospec_id)
        if run is None:
            return LLRPStatus(StatusCode.M_FIELD_ERROR, f"cannot {verb}: no ROSpec {rospec_id}")
        if target == ROSpecState.ACTIVE and run.state == ROSpecState.DISABLED:
            return LLRPStatus(StatusCode.M_FIELD_ERROR, f"ROSpec {rospec_id} is disabled")
        if target == ROSpecState.INACTIVE and verb == "stop" and run.state != ROSpecState.ACTIVE:
            return LLRPStatus(StatusCode.M_FIELD_ERROR, f"ROSpec {rospec_id} is not active")
        run.state = target
        return LLRPStatus()

    async def _delete_rospecs(self, s: _Session, rospec_id: int) -> LLRPStatus:
        ids = list(s.rospecs) if rospec_id == 0 else [rospec_id]
        if rospec_id and rospec_id not in s.rospecs:
            return LLRPStatus(StatusCode.M_FIELD_ERROR, f"no ROSpec {rospec_id}")
        for i in ids:
            self._deactivate(s.rospecs.pop(i))
        return LLRPStatus()

    def _set_keepalive(self, s: _Session, spec: KeepaliveSpec) -> None:
        s.keepalive = spec
        if s.keepalive_task is not None:
            s.keepalive_task.cancel()
            s.keepalive_task = None
        if spec.trigger == KeepaliveTrigger.PERIODIC and spec.interval_ms > 0:
            s.keepalive_task = asyncio.create_task(self._keepalive(s, spec.interval_ms / 1000))

    async def _keepalive(self, s: _Session, interval: float) -> None:
        while not s.closed:
            await asyncio.sleep(interval)
            s.next_id += 1
            await self._send(s, llrp.Keepalive(message_id=s.next_id))

    # ------------------------------------------------------------ inventory

    def _activate(self, s: _Session, run: _SpecRun) -> None:
        run.state = ROSpecState.ACTIVE
        if run.task is None or run.task.done():
            run.task = asyncio.create_task(self._inventory(s, run))

    def _deactivate(self, run: _SpecRun) -> None:
        if run.task is not None and run.task is not asyncio.current_task():
            run.task.cancel()
        run.task = None

    async def _inventory(self, s: _Session, run: _SpecRun) -> None:
        spec = run.spec
        report = spec.report_spec or s.report_spec or ROReportSpec()
        buf = run.buffer
        rospec_start = self.sim_time
        while run.state == ROSpecState.ACTIVE and not s.closed:
            for ai in spec.ai_specs:
                await self._run_aispec(s, run, ai, report, buf, rospec_start)
                if run.state != ROSpecState.ACTIVE or s.closed:
                    break

    async def _run_aispec(
        self,
        s: _Session,
        run: _SpecRun,
        ai: llrp.AISpec,
        report: ROReportSpec,
        buf: dict[tuple[bytes, int], _Seen],
        rospec_start: float,
    ) -> None:
        spec = run.spec
        round_s = self.scenario.round_ms / 1000
        ai_start = self.sim_time
        unique: set[bytes] = set()
        obs = ai.tag_observation
        # §16.2.4.2: AntennaID 0 means every antenna of the reader.
        antennas = set(range(1, self.scenario.antennas + 1))
        if 0 not in ai.antenna_ids:
            antennas &= set(ai.antenna_ids)
        while run.state == ROSpecState.ACTIVE and not s.closed:
            await asyncio.sleep(round_s / self.speed)
            self._round(antennas, buf, unique, round_s)
            if report.trigger != ReportTrigger.NONE and report.n > 0:
                while len(buf) >= report.n:
                    chunk = dict(list(buf.items())[: report.n])
                    for k in chunk:
                        del buf[k]
                    await self._flush(s, run, chunk, report)
            elapsed_ai = (self.sim_time - ai_start) * 1000
            end_ai = False
            if ai.stop_trigger == AIStopTrigger.DURATION:
                end_ai = elapsed_ai >= ai.stop_duration_ms
            elif ai.stop_trigger == AIStopTrigger.TAG_OBSERVATION and obs is not None:
                # UponNTags (0) / UponNUniqueTags (3) end after N tags or the timeout.
                end_ai = bool(obs.timeout_ms and elapsed_ai >= obs.timeout_ms) or bool(
                    obs.trigger in (0, 3)
                    and obs.number_of_tags
                    and len(unique) >= obs.number_of_tags
                )
            elif ai.stop_trigger == AIStopTrigger.NULL and report.n == 0:
                # Nothing would ever trigger a report; report each round instead
                # (simulator convenience, see docs/devices/rfid.md).
                end_ai = True
            end_ro = (
                spec.stop_trigger == StopTrigger.DURATION
                and (self.sim_time - rospec_start) * 1000 >= spec.stop_duration_ms
            )
            if end_ai or end_ro:
                if report.trigger != ReportTrigger.NONE and buf:
                    await self._flush(s, run, dict(buf), report)
                    buf.clear()
                if end_ro:
                    run.state = ROSpecState.INACTIVE
                return

    def _round(
        self,
        antennas: set[int],
        buf: dict[tuple[bytes, int], _Seen],
        unique: set[bytes],
        round_s: float,
    ) -> None:
        self.rounds += 1
        t = self.sim_time
        now_us = self._now_us()
        rng = self._rng
        for tag in self.scenario.tags:
            if not tag.present(t):
                continue
            for ant in tag.antennas:
                if ant not in antennas:
                    continue
                expected = tag.read_rate_hz * round_s
                reads = math.floor(expected + 1e-9)
                if rng.random() < expected - reads:
                    reads += 1
                if reads <= 0:
                    continue
                rssi = max(-128, min(127, round(rng.gauss(tag.rssi_mean, tag.rssi_noise))))
                key = (tag.epc_bytes, ant)
                seen = buf.get(key)
                if seen is None:
                    buf[key] = _Seen(now_us, now_us, reads, rssi)
                else:
                    seen.last_us = now_us
                    seen.count += reads
                    seen.peak = max(seen.peak, rssi)
                unique.add(tag.epc_bytes)
        self._sim_us += round(round_s * 1_000_000)

    async def _flush(
        self,
        s: _Session,
        run: _SpecRun,
        entries: dict[tuple[bytes, int], _Seen],
        report: ROReportSpec | None = None,
    ) -> None:
        if not entries:
            return
        sel = (report or run.spec.report_spec or s.report_spec or ROReportSpec()).content
        rid = run.spec.rospec_id
        tags = []
        for (epc, ant), seen in entries.items():
            pc = (len(epc) // 2) << 11  # PC word: EPC length in words (Gen2 §6.3.2.1.2.2)
            tags.append(
                TagReport(
                    epc=epc,
                    rospec_id=rid if sel.rospec_id else None,
                    spec_index=1 if sel.spec_index else None,
                    inventory_parameter_spec_id=1 if sel.inventory_parameter_spec_id else None,
                    antenna_id=ant if sel.antenna_id else None,
                    peak_rssi=seen.peak if sel.peak_rssi else None,
                    channel_index=1 if sel.channel_index else None,
                    first_seen_utc_us=seen.first_us if sel.first_seen else None,
                    last_seen_utc_us=seen.last_us if sel.last_seen else None,
                    tag_seen_count=min(seen.count, 0xFFFF) if sel.tag_seen_count else None,
                    c1g2_pc=pc if sel.c1g2_pc else None,
                    c1g2_crc=_crc16_c1g2(pc.to_bytes(2, "big") + epc) if sel.c1g2_crc else None,
                )
            )
        s.next_id += 1
        self.reports_sent += 1
        await self._send(s, llrp.ROAccessReport(message_id=s.next_id, tags=tuple(tags)))


def _buffer_of(run: _SpecRun) -> dict[tuple[bytes, int], _Seen]:
    out = dict(run.buffer)
    run.buffer.clear()
    return out


def command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (LLRP standard: 5084).")] = llrp.LLRP_PORT,
    scenario: Annotated[
        Path | None, typer.Option(help="Tag population, JSON or TOML; default: 3 demo tags.")
    ] = None,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed for reads and RSSI.")] = None,
) -> None:
    """Run a simulated LLRP RFID reader until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    scen = Scenario.load(scenario) if scenario is not None else Scenario.demo()

    async def main() -> None:
        sim = LLRPReaderSimulator(scen, host, port, rng=random.Random(seed), speed=speed)
        async with sim:
            typer.echo(f"LLRP reader simulator on {host}:{sim.port} with {len(scen.tags)} tags")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
