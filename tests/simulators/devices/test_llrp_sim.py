"""The LLRP reader simulator against the real sllurp client and against raw bytes."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from typing import Any

from protocol.devices import llrp
from protocol.errors import NeedData
from simulators.devices.llrp import LLRPReaderSimulator
from simulators.devices.llrp_scenario import Scenario, ScenarioTag

A = "urn:epc:id:sgtin:0614141.812345.12345"
B = "3034257BF7194E4000003040"
C = "urn:epc:id:sgtin:0614141.812345.999"
A_HEX = "3034257bf7194e4000003039"
B_HEX = B.lower()


def _scenario() -> Scenario:
    # 20 reads/s x 50 ms rounds = exactly one read per round per antenna.
    return Scenario(
        tags=[
            ScenarioTag(A, antennas=(1, 2), read_rate_hz=20),
            ScenarioTag(B, antennas=(2,), read_rate_hz=20, depart_s=0.5),
            ScenarioTag(C, antennas=(3,), read_rate_hz=20),  # antenna not inventoried
        ],
        antennas=4,
        round_ms=50,
    )


class RawClient:
    """A minimal LLRP client on our own codec, for scripted and bad-byte tests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.dec = llrp.LLRPDecoder()

    @classmethod
    async def open(cls, port: int) -> RawClient:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    async def recv(self, timeout: float = 2.0) -> llrp.LLRPMessage | None:
        """Next message, or None when the reader closed the connection."""
        while True:
            msg = self.dec.next_message()
            if not isinstance(msg, NeedData):
                return msg
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.dec.feed(data)

    async def send(self, msg: llrp.LLRPMessage | bytes) -> None:
        self.writer.write(msg if isinstance(msg, bytes) else llrp.encode(msg))
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def _sllurp_inventory(port: int) -> tuple[list[dict[str, Any]], Any]:
    from sllurp.llrp import LLRPReaderClient, LLRPReaderConfig

    got: list[dict[str, Any]] = []
    cfg = LLRPReaderConfig(
        {
            "antennas": [1, 2],
            "report_every_n_tags": 10,
            "report_timeout_ms": 250,
            "keepalive_interval": 200,
            "tag_content_selector": {
                "EnableAntennaID": True,
                "EnablePeakRSSI": True,
                "EnableFirstSeenTimestamp": True,
                "EnableLastSeenTimestamp": True,
                "EnableTagSeenCount": True,
            },
        }
    )
    client = LLRPReaderClient("127.0.0.1", port, cfg)
    client.add_tag_report_callback(lambda _r, tags: got.extend(tags))
    return got, client


def test_sllurp_inventories_the_simulator() -> None:
    async def main() -> None:
        sim = LLRPReaderSimulator(
            _scenario(), port=0, rng=random.Random(7), speed=10, clock=lambda: 1_700_000_000.0
        )
        async with sim:
            got, client = _sllurp_inventory(sim.port)
            await asyncio.to_thread(client.connect)
            try:
                for _ in range(200):
                    if sim.sim_time >= 1.2 and sim.keepalive_acks >= 1:
                        break
                    await asyncio.sleep(0.02)
            finally:
                await asyncio.to_thread(client.disconnect, 2.0)
                client.hard_disconnect()
            assert sim.received[:8] == [
                "GetReaderCapabilities",
                "GetReaderConfig",
                "EnableEventsAndReports",
                "SetReaderConfig",
                "DeleteAccessSpec",
                "DeleteROSpec",
                "AddROSpec",
                "EnableROSpec",
            ]
            assert "StartROSpec" not in sim.received  # Immediate start trigger
            assert sim.keepalive_acks >= 1
        counts: dict[tuple[str, int], int] = defaultdict(int)
        for tag in got:
            counts[(tag["EPC"].decode(), tag["AntennaID"])] += tag["TagSeenCount"]
            assert -70 < tag["PeakRSSI"] < -40
            assert tag["FirstSeenTimestampUTC"] >= 1_700_000_000_000_000
            assert tag["LastSeenTimestampUTC"] >= tag["FirstSeenTimestampUTC"]
        assert set(counts) == {(A_HEX, 1), (A_HEX, 2), (B_HEX, 2)}
        assert counts[(B_HEX, 2)] == 10  # present for sim t in [0, 0.5): 10 rounds
        assert counts[(A_HEX, 1)] == counts[(A_HEX, 2)] >= 20

    asyncio.run(main())


async def _handshake(c: RawClient) -> None:
    hello = await c.recv()
    assert isinstance(hello, llrp.ReaderEventNotification)
    assert hello.connection_attempt == llrp.ConnectionAttemptStatus.SUCCESS


def test_start_rospec_and_n_tags_per_report() -> None:
    async def main() -> None:
        sim = LLRPReaderSimulator(_scenario(), port=0, rng=random.Random(1), speed=20)
        async with sim:
            c = await RawClient.open(sim.port)
            await _handshake(c)
            selector = llrp.TagReportContentSelector(antenna_id=True, tag_seen_count=True)
            spec = llrp.ROSpec(
                rospec_id=7,
                start_trigger=llrp.StartTrigger.NULL,
                ai_specs=(llrp.AISpec(antenna_ids=(0,)),),  # 0 = all antennas
                report_spec=llrp.ROReportSpec(n=2, content=selector),
            )
            await c.send(llrp.AddROSpec(message_id=1, rospec=spec))
            assert await c.recv() == llrp.AddROSpecResponse(message_id=1)
            await c.send(llrp.StartROSpec(message_id=2, rospec_id=7))
            bad = await c.recv()
            assert isinstance(bad, llrp.StartROSpecResponse)
            assert bad.status.code == llrp.StatusCode.M_FIELD_ERROR  # still disabled
            await c.send(llrp.EnableROSpec(message_id=3, rospec_id=7))
            assert await c.recv() == llrp.EnableROSpecResponse(message_id=3)
            await c.send(llrp.StartROSpec(message_id=4, rospec_id=7))
            assert await c.recv() == llrp.StartROSpecResponse(message_id=4)
            report = await c.recv()
            assert isinstance(report, llrp.ROAccessReport)
            assert len(report.tags) == 2
            assert all(t.peak_rssi is None and t.antenna_id in (1, 2, 3) for t in report.tags)
            await c.send(llrp.StopROSpec(message_id=5, rospec_id=7))
            while not isinstance(msg := await c.recv(), llrp.StopROSpecResponse):
                assert isinstance(msg, llrp.ROAccessReport)
            assert msg.status.ok
            await c.send(llrp.DeleteROSpec(message_id=6, rospec_id=99))
            gone = await c.recv()
            assert isinstance(gone, llrp.DeleteROSpecResponse)
            assert "no ROSpec 99" in gone.status.description
            await c.send(llrp.CloseConnection(message_id=8))
            assert await c.recv() == llrp.CloseConnectionResponse(message_id=8)
            assert await c.recv() is None
            await c.close()

    asyncio.run(main())


def test_unknown_message_gets_error_and_connection_survives() -> None:
    async def main() -> None:
        async with LLRPReaderSimulator(_scenario(), port=0) as sim:
            c = await RawClient.open(sim.port)
            await _handshake(c)
            await c.send(llrp.UnknownMessage(message_id=4, message_type=40, body=b"\x00" * 8))
            err = await c.recv()
            assert isinstance(err, llrp.ErrorMessage)
            assert err.message_id == 4
            assert err.status.code == llrp.StatusCode.M_UNSUPPORTED_MESSAGE
            await c.send(llrp.GetReaderConfig(message_id=5))
            cfg = await c.recv()
            assert isinstance(cfg, llrp.GetReaderConfigResponse)
            assert cfg.status.ok
            # A second client is refused while the first is connected (§13.2.6.11).
            c2 = await RawClient.open(sim.port)
            refused = await c2.recv()
            assert isinstance(refused, llrp.ReaderEventNotification)
            assert refused.connection_attempt == 2
            assert await c2.recv() is None
            await c2.close()
            await c.close()

    asyncio.run(main())


def test_lying_length_and_garbage_close_only_that_connection() -> None:
    async def main() -> None:
        rng = random.Random(3)
        garbage = [
            b"\x04\x48\x00\x00\x00\x04\x00\x00\x00\x01",  # length 4 < header
            b"\x04\x3d\x7f\xff\xff\xff\x00\x00\x00\x01",  # length 2 GiB
            bytes(rng.randrange(256) for _ in range(64)),
            llrp.encode(llrp.GetReaderConfig(message_id=1))[:7],  # truncated, then EOF
        ]
        sim = LLRPReaderSimulator(_scenario(), port=0, rng=random.Random(1), speed=20)
        async with sim:
            for junk in garbage:
                c = await RawClient.open(sim.port)
                await _handshake(c)
                await c.send(junk)
                if junk is garbage[0]:
                    err = await c.recv()
                    assert isinstance(err, llrp.ErrorMessage)
                    assert "less than the 10-byte header" in err.status.description
                    assert await c.recv() is None
                if junk is garbage[1]:
                    err = await c.recv()
                    assert isinstance(err, llrp.ErrorMessage)
                    assert "length field is corrupt" in err.status.description
                await c.close()
                for _ in range(100):
                    if not sim.connected:
                        break
                    await asyncio.sleep(0.01)
            assert len(sim.protocol_errors) >= 2
            # The server still serves a well-behaved client.
            c = await RawClient.open(sim.port)
            await _handshake(c)
            await c.send(llrp.GetReaderCapabilities(message_id=9))
            caps = await c.recv()
            assert isinstance(caps, llrp.GetReaderCapabilitiesResponse)
            assert caps.capabilities is not None
            assert caps.capabilities.max_antennas == 4
            await c.close()

    asyncio.run(main())


def test_scenario_files(tmp_path: Any) -> None:
    (tmp_path / "s.toml").write_text(
        'antennas = 2\nround_ms = 20\n[[tags]]\nepc = "3034257BF7194E4000003039"\n'
        "antennas = [2]\ndepart_s = 3.5\n",
        encoding="utf-8",
    )
    (tmp_path / "s.json").write_text(
        '{"tags": [{"epc": "urn:epc:tag:sgtin-96:1.0614141.812345.12345", "rssi_mean": -40}]}',
        encoding="utf-8",
    )
    t = Scenario.load(tmp_path / "s.toml")
    assert (t.antennas, t.round_ms, t.tags[0].antennas) == (2, 20.0, (2,))
    assert t.tags[0].present(3.4) and not t.tags[0].present(3.5)
    j = Scenario.load(tmp_path / "s.json")
    assert j.tags[0].epc_bytes == bytes.fromhex(A_HEX)
    assert j.tags[0].rssi_mean == -40
