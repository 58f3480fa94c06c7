"""`guanjia demo --once` is the main job: run it as a user would."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_once_exits_zero_and_shows_the_warehouse(tmp_path: Path) -> None:
    guanjia = Path(sys.executable).with_name("guanjia")
    t = time.monotonic()
    proc = subprocess.run(
        [str(guanjia), "demo", "--once", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    took = time.monotonic() - t
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Step lines ("✓ step: detail") may wrap at the terminal width: compare whitespace-free.
    out = " ".join(proc.stdout.split())
    assert "demo ok" in out
    # The walking skeleton's proof.
    assert "light GREEN" in out
    assert "cloud stored scan.recorded" in out
    assert "acked back through seq 2" in out
    assert "light RED" in out
    # Released by the cloud, picked over the PDA API.
    assert "JY1300001 (ZTO, waybill" in out and "JY1300002 (SF, waybill" in out
    assert "wave W-DEMO-1 done: 3 orders picked" in out
    assert "cloud: JY1300001 picked, JY1300002 picked" in out
    # The pick leg made the PDA page's requests; the page's address and a demo login shown.
    assert "as the PDA page at http://127.0.0.1:" in out
    assert "/pda operator demo.picker, PIN 2468" in out
    # Packed: one wrong item red, then the right ones, the weight, the label.
    assert "JY1300001: wrong item 6901234567892 → light RED (not_in_order:" in out
    assert "ZTO label" in out and "SF label" in out
    # Shipped, with the cloud's tracking numbers and weights.
    assert "JY1300001 shipped, ZTO" in out and "JY1300002 shipped, SF" in out
    # One order the shop's download brought went through the warehouse too, and its
    # shipment reached the marketplace simulator once (simulators/demo/warehouse.py).
    channel = re.search(
        r"(\d+) → trade (\d+): (ZTO|SF) (\w+) confirmed once, after \d+ attempt\(s\)", out
    )
    assert channel and channel[1] == channel[2], out
    assert f"{channel[1]} shipped, {channel[3]} {channel[4]}" in out
    assert "100 g" in out and "170 g" in out
    # Counted by RFID; the variance reached the cloud's ledger.
    assert "swept: 11 SGTIN-96 tags" in out
    assert "cloud booked adjust -1 in A-03" in out
    assert f"label PNGs: {tmp_path / 'labels'}" in out
    pngs = sorted((tmp_path / "labels").glob("*.png"))
    assert len(pngs) == 3, pngs
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # Orders also came in from the marketplace simulator through the channel download.
    m = re.search(r"shop tb-demo downloaded: (\d+) pages, (\d+) new orders", out)
    assert m and int(m[2]) > 0, out
    # The finance leg (simulators/demo/finance.py): courier bills with exactly the
    # overcharged parcel flagged and accepted, today's Alipay bill settled against the
    # shop's downloaded orders, an e-invoice issued then red-flushed, the books balanced.
    # The overcharged parcel is the last shipped: the downloaded order's (ZTO).
    zto = re.search(
        r"ZTO bill \d+: 2 line\(s\), billed (\d+\.\d\d), (\d+) flagged overcharged "
        r"\(billed (\d+\.\d\d), card (\d+\.\d\d) for (\d+) g, 5\.00 disputed\); accepted "
        r"(\d+\.\d\d) to the ZTO payable, 5\.00 in suspense",
        out,
    )
    assert zto and zto[2] == channel[4], out
    assert Decimal(zto[3]) == Decimal(zto[4]) + 5 and Decimal(zto[6]) == Decimal(zto[1]) - 5
    assert re.search(r"SF bill \d+: 1 line\(s\), billed 18\.00, none flagged; accepted 18\.00", out)
    assert "JY1300002, " + channel[1] + "; settling every order shop tb-demo downloaded" in out
    m = re.search(
        r"from the marketplace simulator: (\d+) rows, (\d+) posted, (\d+) in suspense", out
    )
    assert m and int(m[2]) > 0, out
    m = re.search(r"(\d+) sales matched to orders", out)
    assert m and int(m[1]) > 0, out
    blue = re.search(r"blue (GJ\w+) issued: No\. (\d{20}) \((\d+\.\d\d)\)", out)
    assert blue, out
    red = re.search(
        r"red-flushed in full \(01 开票有误, form 01\): red GJ\w+ issued: No\. (\d{20}) \(-(\d+\.\d\d)\)",
        out,
    )
    assert red and red[2] == blue[3] and red[1] != blue[2], out
    assert f"e-invoices: blue No. {blue[2]}, red No. {red[1]}" in out
    assert re.search(r"trial balance \d{4}-\d\d: balanced \(debit ([\d.]+) = credit \1", out)
    assert "/web/finance" in out
    # The inbound and after-sales leg (simulators/demo/inbound.py): the PO opened at the
    # dock by its delivery waybill and counted with a QC fail on the handheld, the transfer
    # shipped and received, the return counted sellable and damaged at the returns desk.
    assert "waybill SF1400000088 opened PO-DEMO-IN-1" in out
    assert "counted 5 passed, 1 QC fail (外箱压坏)" in out
    assert "1 receipt(s) booked, 6 received, 1 QC failed, status received" in out
    assert "picked and shipped by wh1-pick-1: 8 × GIFT 贴膜 in transit" in out
    assert "TF-DEMO-1: 8 received at WH2, 0 in transit" in out
    assert "parcel SF9000000088, 1 sellable, 1 damaged (屏幕划伤)" in out
    # What the hub booked, read from its database after the demo: the node's receipt once
    # (one receipt row, each unit one movement), the transfer out of WH1 and into WH2, the
    # return split between sellable and damaged.
    with contextlib.closing(sqlite3.connect(tmp_path / "cloud.db")) as db:

        def booked(document: str) -> list[tuple[str, str, int]]:
            return sorted(
                db.execute(
                    "SELECT w.code, m.bucket, m.qty_delta FROM stock_movement m"
                    " JOIN warehouse w ON w.id = m.warehouse_id WHERE m.document = ?",
                    (document,),
                ).fetchall()
            )

        receipts = db.execute(
            "SELECT count(*) FROM purchase_receipt r JOIN purchase_order p ON p.id = r.po_id"
            " WHERE p.number = 'PO-DEMO-IN-1'"
        ).fetchone()
        assert receipts == (1,)
        assert booked("po:PO-DEMO-IN-1") == [("WH1", "damaged", 1), ("WH1", "sellable", 5)]
        assert db.execute("SELECT count(*) FROM transfer_receipt").fetchone() == (1,)
        # Shipped by the pick node (one movement per bin picked from), received by the API.
        assert booked("tr:TF-DEMO-1") == [("WH1", "sellable", -8), ("WH2", "sellable", 8)]
        assert booked("as:AS-DEMO-1") == [("WH1", "damaged", 1), ("WH1", "sellable", 1)]
    # About 16 s before the finance leg, 10 s more with it, 3 s for inbound and
    # after-sales, on an idle machine; make test runs it beside another end-to-end test
    # (two processes), where it took 136 s with the machine loaded besides. The bound
    # catches a demo that stalls, not a slow machine.
    assert took < 300
