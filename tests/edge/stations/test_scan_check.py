"""The scan-check station as a pure state machine: no store, no hardware, no asyncio."""

from __future__ import annotations

import pytest

from edge.stations.common import Show, Signal
from edge.stations.scan_check import (
    DeviceFault,
    DeviceRecovered,
    RecordScan,
    ScanCheckStation,
    Scanned,
    State,
)


def test_known_barcode_records_then_shows_green() -> None:
    st = ScanCheckStation("pack-1")
    cmds = st.handle(Scanned("6901234567892", "SKU-1"))
    assert isinstance(cmds[0], RecordScan)  # the commit comes before the light, always
    assert cmds[0].payload.verdict == "ok"
    assert isinstance(cmds[1], Show)
    assert cmds[1].signal is Signal.OK


def test_unknown_barcode_records_then_shows_red() -> None:
    cmds = ScanCheckStation("pack-1").handle(Scanned("123", None))
    assert [type(c) for c in cmds] == [RecordScan, Show]
    assert cmds[0].payload.verdict == "unknown"  # type: ignore[union-attr]
    assert cmds[1].signal is Signal.UNKNOWN  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("barcode", "why"),
    [
        ("69012\x0034", "control characters 0x00"),
        ("", "empty"),
        ("7" * 129, "129 characters"),
        ("a\x1bb\x07", "0x07, 0x1b"),
    ],
)
def test_unreadable_scans_show_red_and_record_nothing(barcode: str, why: str) -> None:
    cmds = ScanCheckStation("pack-1").handle(Scanned(barcode, None))
    assert len(cmds) == 1
    assert isinstance(cmds[0], Show)
    assert cmds[0].signal is Signal.UNKNOWN
    assert why in cmds[0].text


def test_fault_and_recovery() -> None:
    st = ScanCheckStation("pack-1")
    assert st.handle(DeviceFault("scale", "no answer"))[0].signal is Signal.FAULT  # type: ignore[union-attr]
    st.handle(DeviceFault("printer", "paper out"))
    assert st.state is State.FAULT
    assert st.handle(DeviceRecovered("scale")) == []  # printer still down
    assert st.state is State.FAULT
    assert [type(c) for c in st.handle(Scanned("1", "SKU"))] == [
        RecordScan,
        Show,
    ]  # scans still judged
    cmds = st.handle(DeviceRecovered("printer"))
    assert st.state is State.READY
    assert cmds[0].signal is Signal.CLEAR  # type: ignore[union-attr]
