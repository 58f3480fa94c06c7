"""RfidReader (sllurp bridged to asyncio) against the LLRP simulator, and the pure aggregator."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import pytest

from edge.devices.rfid import RfidReader, TagAggregator
from protocol.backoff import Backoff
from protocol.devices import llrp
from simulators.devices.llrp import LLRPReaderSimulator
from simulators.devices.llrp_scenario import Scenario, ScenarioTag
from tests.support import free_port, until

A_HEX = "3034257bf7194e4000003039"
B_HEX = "3034257bf7194e4000003040"


@pytest.fixture(autouse=True)
def _quiet_sllurp() -> None:
    # sllurp logs every undecodable frame with a traceback; the tests provoke those.
    logging.getLogger("sllurp").setLevel(logging.CRITICAL)


# ------------------------------------------------------------------ aggregator


def _rep(epc: str, ant: int = 1, rssi: int | None = -50, count: int = 1) -> dict[str, object]:
    return {"EPC-96": epc.encode(), "EPC": epc.encode(), "AntennaID": ant, "PeakRSSI": rssi,
            "TagSeenCount": count, "LastSeenTimestampUTC": 5}  # fmt: skip


def test_aggregator_counts_smooths_and_departs() -> None:
    agg = TagAggregator(depart_after_s=2.0, rssi_alpha=0.5, antennas=(1, 2))
    ev = agg.ingest([_rep(A_HEX, 1, -60, 3), _rep(B_HEX, 2, -40)], now=100.0)
    assert [(e.kind, e.tag.epc) for e in ev] == [("arrived", A_HEX), ("arrived", B_HEX)]
    assert agg.ingest([_rep(A_HEX, 2, -50, 2)], now=101.0) == []
    a = agg.tags[A_HEX]
    assert (a.count, a.rssi, a.antenna, a.first_seen, a.last_seen) == (5, -55.0, 2, 100.0, 101.0)
    assert a.reader_last_seen_us == 5
    assert {s.epc for s in agg.take_dirty()} == {A_HEX, B_HEX}
    assert agg.take_dirty() == []
    gone = agg.sweep(now=102.5)  # B last seen at 100.0
    assert [(e.kind, e.tag.epc) for e in gone] == [("departed", B_HEX)]
    assert [t.epc for t in agg.present()] == [A_HEX]
    back = agg.ingest([_rep(B_HEX, 1)], now=103.0)
    assert [(e.kind, e.tag.epc, e.tag.count) for e in back] == [("arrived", B_HEX, 2)]


def test_aggregator_ignores_unknown_antenna_and_missing_fields() -> None:
    agg = TagAggregator(antennas=(1,))
    agg.ingest([_rep(A_HEX, 9), {"AntennaID": 1}], now=1.0)
    assert agg.ignored_reads == 2
    assert agg.tags == {}
    agg.ingest([{"EPC": A_HEX.encode()}], now=2.0)  # no antenna, RSSI or count reported
    assert (agg.tags[A_HEX].count, agg.tags[A_HEX].rssi) == (1, None)


# ---------------------------------------------------------------- driver + sim


def _scenario() -> Scenario:
    return Scenario(
        tags=[
            ScenarioTag(A_HEX, antennas=(1, 2), read_rate_hz=20, rssi_mean=-50),
            ScenarioTag(B_HEX, antennas=(2,), read_rate_hz=20, depart_s=0.5),
        ],
        round_ms=50,
    )


def _reader(port: int) -> RfidReader:
    return RfidReader(
        "127.0.0.1",
        port,
        antennas=(1, 2),
        report_every_n_tags=4,
        report_timeout_ms=100,
        keepalive_ms=200,
        depart_after_s=0.3,
        connect_timeout_s=2.0,
        sweep_interval_s=0.05,
        backoff=Backoff(lambda: 1.0, base=0.05, cap=0.2),
    )


def _with_reader(
    body: Callable[[LLRPReaderSimulator, RfidReader], Awaitable[None]], speed: float = 4
) -> None:
    async def main() -> None:
        sim = LLRPReaderSimulator(_scenario(), port=0, rng=random.Random(5), speed=speed)
        await sim.start()
        reader = _reader(sim.port)
        task = asyncio.create_task(reader.run())
        try:
            await body(sim, reader)
        finally:
            await reader.stop()
            await asyncio.wait_for(task, 5)
            await sim.stop()
        assert not reader.health.connected

    asyncio.run(main())


def test_driver_inventories_and_reports_arrivals_and_departures() -> None:
    async def body(sim: LLRPReaderSimulator, reader: RfidReader) -> None:
        await until(lambda: reader.health.connected)
        await until(lambda: B_HEX in reader.aggregator.tags and sim.sim_time > 1.5)
        await until(lambda: not reader.aggregator.tags[B_HEX].present)
        events = []
        while not reader.events.empty():
            e = reader.events.get_nowait()
            events.append((e.kind, e.tag.epc))
        assert ("arrived", A_HEX) in events
        assert events.index(("arrived", B_HEX)) < events.index(("departed", B_HEX))
        a = reader.aggregator.tags[A_HEX]
        assert a.present and a.antenna in (1, 2) and a.count >= 10
        assert a.rssi is not None and -60 < a.rssi < -40
        assert reader.aggregator.tags[B_HEX].count == 10  # 10 rounds on antenna 2
        assert reader.health.as_dict()["tags_present"] == 1
        assert reader.health.last_reading_at is not None

    _with_reader(body)


def test_report_for_nonexistent_antenna_is_counted_and_ignored() -> None:
    async def body(sim: LLRPReaderSimulator, reader: RfidReader) -> None:
        await until(lambda: reader.health.connected)
        bogus = bytes.fromhex("3034257BF7194E40000030FF")
        await sim.send_report([llrp.TagReport(epc=bogus, antenna_id=9, tag_seen_count=1)])
        await until(lambda: reader.health.extra["unknown_antenna_reads"] == 1)
        assert bogus.hex() not in reader.aggregator.tags
        before = reader.aggregator.reads
        await until(lambda: reader.aggregator.reads > before)  # still inventorying
        assert reader.health.connected
        assert reader.sessions == 1

    _with_reader(body)


@pytest.mark.parametrize(
    "junk",
    [
        b"\x04\x3d\x00\x00\x00\x04\x00\x00\x00\x01",  # length 4 < 10-byte header
        b"\x04\x3d\x7f\xff\xff\xff\x00\x00\x00\x01",  # length 2 GiB: client waits forever
    ],
    ids=["length-below-header", "length-absurd"],
)
def test_lying_frame_marks_fault_then_recovers(junk: bytes) -> None:
    async def body(sim: LLRPReaderSimulator, reader: RfidReader) -> None:
        await until(lambda: reader.health.connected)
        await sim.inject(junk)
        await until(lambda: not reader.health.connected)
        assert reader.health.last_error
        await until(lambda: reader.health.connected and reader.sessions >= 2)
        before = reader.aggregator.reads
        await until(lambda: reader.aggregator.reads > before)

    _with_reader(body)


def test_reconnects_when_simulator_restarts_and_when_absent_at_start() -> None:
    async def main() -> None:
        port = free_port()
        reader = _reader(port)
        task = asyncio.create_task(reader.run())
        try:
            await until(lambda: reader.health.errors >= 1)  # nothing listening yet
            assert not reader.health.connected
            assert "failed" in (reader.health.last_error or "")
            for round_ in range(2):
                sim = LLRPReaderSimulator(_scenario(), port=port, speed=4)
                await sim.start()
                await until(lambda: reader.health.connected)
                await until(lambda: A_HEX in reader.aggregator.tags)
                await sim.stop()  # reader reboot: connection drops
                await until(lambda: not reader.health.connected)
                assert reader.sessions == round_ + 1
        finally:
            await reader.stop()
            await asyncio.wait_for(task, 5)
        assert reader.health.errors >= 3

    asyncio.run(main())


def test_bench_rfid_smoke() -> None:
    from edge.bench.rfid import bench_rfid

    out = bench_rfid(n_reports=1_000)
    assert out["tag_reports"] == 1_000
    assert out["distinct_epcs"] > 0
    assert out["sllurp_decode_tag_reports_per_s"] > 0
    assert out["pipeline_tag_reports_per_s"] > 0
