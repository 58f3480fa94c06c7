"""A serial step's detail is kept as message ids (cloud/stock/serials.py, migration 0055):
the API's ``detail`` reads as it always has, the dashboard says it in its language
(cloud/web/pages/serials.py, issue 17 item 4)."""

from __future__ import annotations

import uuid

from cloud.errors import say
from cloud.stock import serials
from cloud.web import i18n
from protocol.messages import (
    ReceivedLine,
    ReturnedLine,
    ReturnReceived,
    ReturnReceivedPayload,
    ShippedLine,
    TransferShipped,
    TransferShippedPayload,
)

BASE = {"node": "n1", "epoch": 1, "seq": 1, "hlc": 1}


def _said(seen: list[object], locale: str) -> list[str]:
    gettext = i18n.translations(locale).gettext
    return [
        ", ".join(say(x["msgid"], x["params"], gettext) for x in s.said)  # type: ignore[attr-defined]
        for s in seen
    ]


def test_details_in_english_for_the_api_and_in_chinese_on_the_page() -> None:
    back = ReturnReceived(
        **BASE,
        id=uuid.uuid4(),
        payload=ReturnReceivedPayload(
            receipt_id="RT-1",
            request="AS-1",
            warehouse="WH1",
            station="n1",
            lines=[
                ReturnedLine(
                    line_no=1, sku_code="S", sellable=1, damaged=1, reason="屏幕碎", serials=["X"]
                )
            ],
        ),
    )
    left = TransferShipped(
        **BASE,
        id=uuid.uuid4(),
        payload=TransferShippedPayload(
            shipment_id="n1:T:1",
            transfer_number="T",
            shipment=1,
            warehouse="WH1",
            station="n1",
            operator="P07",
            lines=[ShippedLine(line_no=1, sku_code="S", qty=1, bin="A-01", serials=["Y"])],
        ),
    )
    lines = [
        ReceivedLine(sku_code="S", qty=1, verdict="pass", serials=["P"]),
        ReceivedLine(sku_code="S", qty=1, verdict="fail", reason="外箱压坏", serials=["F"]),
    ]
    seen = (
        serials._sightings("n1", back)
        + serials._sightings("n1", left)
        + serials.received_sightings("n1", "received", "PO", "RC", "WH1", lines)
    )
    assert [serials.english(s.said) for s in seen] == [
        "sellable 1, damaged 1 (屏幕碎)",
        "shipment 1, P07",
        "QC pass",
        "QC fail: 外箱压坏",
    ]
    assert _said(seen, "zh_CN") == [
        "可售 1, 坏品 1（屏幕碎）",
        "发货批次 1，P07",
        "质检合格",
        "质检不合格：外箱压坏",
    ]


def test_a_serial_packed_or_shipped_twice_reads_in_chinese_on_the_trace_page() -> None:
    """The first step's sentence once the serial left again (stored in English, matched back
    to its message id by the page, cloud/web/pages/serials.py ``conflict_in``)."""
    from cloud.web.pages.serials import conflict_in

    gettext = i18n.translations("zh_CN").gettext
    packed = serials.PACKED_AGAIN % {"serial": "X", "order": "JY-2", "node": "n2"}
    shipped = serials.SHIPPED_AGAIN % {
        "serial": "Y",
        "transfer": "TR-2",
        "shipment": "n2:TR-2:s1",
        "node": "n2",
    }
    assert conflict_in(gettext, packed) == (
        "序列号 X 未退回就又打包进订单 JY-2（n2）：两件商品带同一序列号，或扫错了商品"
    )
    assert conflict_in(gettext, shipped) == (
        "序列号 Y 未到货就又随调拨单 TR-2（出库 n2:TR-2:s1，n2）发出：两件商品带同一序列号，"
        "或扫错了商品"
    )


def test_a_serial_that_left_twice_links_its_trace_from_the_tasks_page() -> None:
    """Its task is closed on the tasks page (no decision on the trace), but the page links
    the trace the task is about; only a serial received twice is decided there."""
    from cloud.db.models import Task
    from cloud.inbound.serial_conflicts import SERIAL_CONFLICT, serial_of, traced

    def task(msgid: str, **said: str) -> Task:
        return Task(kind=SERIAL_CONFLICT, params={"why": {"msgid": msgid, "params": said}})

    packed = task(serials.PACKED_TWICE, serial="SN-P", order="JY-1")
    received = task(serials.RECEIVED_AGAIN, serial="SN-R", receipt="R1")
    assert (serial_of(packed), traced(packed)) == (None, "SN-P")
    assert (serial_of(received), traced(received)) == ("SN-R", "SN-R")
    assert traced(Task(kind="short_pick", params={"why": {"msgid": "x", "params": {}}})) is None
    assert traced(task("not one of the serial sentences", serial="SN-X")) is None
