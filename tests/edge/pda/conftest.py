"""The PDA pages in a real Chromium against a real pick API server (uvicorn in a thread)
over a real edge store filled through the downlink (tests/edge/api/conftest.py's data)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from edge.api.app import create_pick_app
from edge.api.operators import GateSettings, Operator
from edge.pins import hash_pin
from edge.store.store import Store
from tests.edge.api.conftest import NODE, PINS, STATION, fill
from tests.support import free_port, wait
from tests.support.browser import browser

__all__ = ["browser"]


@pytest.fixture(scope="session")
def pda_operators() -> list[Operator]:
    return [
        Operator(id="li.lei", name="李雷", pin_hash=hash_pin(PINS["li.lei"])),
        Operator(id="han.mei", name="韩梅梅", pin_hash=hash_pin(PINS["han.mei"])),
    ]


@dataclass
class Node:
    """The pick API serving the PDA pages, and a read-only look into its store."""

    url: str
    db: Path
    app: Any
    server: uvicorn.Server

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def scans(self) -> list[str]:
        """Every barcode the node received, in order (its journalled pick inputs)."""
        return [
            orjson.loads(body)["barcode"]
            for (body,) in self.rows("SELECT body FROM pick_input ORDER BY rowid")
            if orjson.loads(body).get("barcode") is not None
        ]

    def picked_facts(self) -> list[dict[str, Any]]:
        return [
            orjson.loads(b)
            for (b,) in self.rows("SELECT body FROM outbox ORDER BY seq")
            if orjson.loads(b)["type"] == "order.picked"
        ]

    def movements(self) -> list[tuple[str, str, int]]:
        return [
            (str(b), str(s), int(d))
            for b, s, d in self.rows(
                "SELECT bin, sku_code, delta FROM stock_movement ORDER BY rowid"
            )
        ]

    def feed(self, *changes: Any) -> None:
        """A downlink change applied while the node runs (under the service's lock)."""
        from tests.edge.api.conftest import feed

        service = self.app.state.pick_service
        with service.lock:
            feed(self.app.state.store, *changes)


def serve(db: Path, operators: list[Operator], **kw: Any) -> Iterator[Node]:
    app = create_pick_app(
        db,
        NODE,
        operators,
        station=STATION,
        gate_settings=kw.pop("gate_settings", GateSettings(max_failures=3, lockout_s=60)),
        **kw,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait(lambda: server.started, 15, "the pick API to start")
    try:
        yield Node(f"http://127.0.0.1:{port}", db, app, server)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def node_db(tmp_path: Path) -> Path:
    path = tmp_path / "edge.db"
    store = Store(path, NODE)
    fill(store)
    store.close()
    return path


@pytest.fixture
def node(node_db: Path, pda_operators: list[Operator]) -> Iterator[Node]:
    yield from serve(node_db, pda_operators)


@pytest.fixture
def context(browser: Any, node: Node) -> Iterator[Any]:
    ctx = browser.new_context(
        viewport={"width": 360, "height": 640}, base_url=node.url, locale="zh-CN"
    )
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    p = context.new_page()
    p.set_default_timeout(10_000)
    return p


def login(page: Any, operator: str = "li.lei", pin: str | None = None) -> None:
    page.fill("#login-operator", operator)
    page.fill("#login-pin", pin or PINS[operator])
    page.click("#login-form button[type=submit]")


def ready(page: Any) -> None:
    page.wait_for_function("document.body.dataset.ready === '1'")


def scan(page: Any, code: str, mode: str = "keys") -> None:
    """A scanner in keystroke-wedge mode (keys, then Enter) or in IME mode (the code
    injected as one piece of text)."""
    field = page.locator("#scan")
    if mode == "keys":
        field.press_sequentially(code, delay=0)
        field.press("Enter")
    else:
        field.focus()
        page.keyboard.insert_text(code)


def double_read(page: Any, code: str) -> None:
    """The scanner reads ``code`` twice within 100 ms: two IME injections in one go (two
    calls from the test may be further apart than that on a loaded machine)."""
    page.evaluate(
        """code => { const el = document.getElementById('scan');
          for (let i = 0; i < 2; i++) {
            el.value = code;
            el.dispatchEvent(new InputEvent('input', {inputType: 'insertText', data: code}));
          } }""",
        code,
    )


def feedback(page: Any) -> tuple[str, str]:
    el = page.locator("#feedback")
    return str(el.get_attribute("class")), str(el.text_content())


def pending(page: Any) -> int:
    return int(page.locator("#pending").get_attribute("data-count") or -1)


def wait_sent(page: Any, timeout: float = 15_000) -> None:
    # Every scan handled (its queue write done, scan.js `busy`) and the queue empty.
    page.wait_for_function(
        "!window.__pda.busy && document.getElementById('pending').dataset.count === '0'",
        timeout=timeout,
    )


def settle(seconds: float = 0.12) -> None:
    # The page drops the same code again within 100 ms as a scanner's double read.
    time.sleep(seconds)


def big_wave(node: Node, wave: str, units: int) -> list[tuple[str, str, int]]:
    """A wave of ``units`` units of each of A, B, C (one order), with the stock for it:
    the stops in route order, as (bin, sku, qty)."""
    from protocol.messages import OrderReleased, StockExpected, StockExpectedSet, StockLevel
    from tests.edge.api.conftest import BINS, order

    levels = [
        StockLevel(bin="P2", sku_code="A", qty=units),
        StockLevel(bin="P3", sku_code="B", qty=units),
        StockLevel(bin="P4", sku_code="C", qty=units),
    ]
    node.feed(
        StockExpectedSet(
            seq=1,
            payload=StockExpected(warehouse="WH1", bins=[b.code for b in BINS], levels=levels),
        ),
        OrderReleased(seq=1, payload=order("O9", wave, ("A", units), ("B", units), ("C", units))),
    )
    return [("P4", "C", units), ("P3", "B", units), ("P2", "A", units)]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
