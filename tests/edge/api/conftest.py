"""A real edge store filled through the downlink, operators with real PIN hashes, the pick API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from edge.api.app import create_pick_app
from edge.api.operators import GateSettings, Operator
from edge.pins import hash_pin
from edge.store.store import Store
from protocol.messages import (
    BinInfo,
    BinsUpsert,
    BinsUpserted,
    CatalogueUpsert,
    CatalogueUpserted,
    Change,
    DownBatch,
    OrderLine,
    OrderRelease,
    OrderReleased,
    Recipient,
    StockExpected,
    StockExpectedSet,
    StockLevel,
)

NODE = "wh1-pick-1"
STATION = "pick-1"
WHO = Recipient(name="张三", phone="13800138000", province="湖南省", city="长沙市", address="1 号")

# Two aisles (x = 0 and x = 3); walk order is the numbering, not the best route.
BINS = [
    BinInfo(code="P1", zone="pick", x=0.0, y=1.0, walk_order=1, barcode="BIN-P1"),
    BinInfo(code="P2", zone="pick", x=0.0, y=5.0, walk_order=2, barcode="BIN-P2"),
    BinInfo(code="P3", zone="pick", x=3.0, y=5.0, walk_order=3, barcode="BIN-P3"),
    BinInfo(code="P4", zone="pick", x=3.0, y=1.0, walk_order=4, barcode="BIN-P4"),
]
#: sku code -> barcode
SKUS = {"A": "6900000000011", "B": "6900000000028", "C": "6900000000035", "S": "6900000000042"}
STOCK = [
    StockLevel(bin="P2", sku_code="A", qty=5),
    StockLevel(bin="P3", sku_code="B", qty=5),
    StockLevel(bin="P4", sku_code="C", qty=5),
    StockLevel(bin="P1", sku_code="S", qty=5),
]
PINS = {"li.lei": "246810", "han.mei": "135790", "viewer": "111111"}


def order(
    oid: str,
    wave: str,
    *lines: tuple[str, int],
    status: str = "released",
    version: int = 1,
    pick_node: str | None = NODE,
) -> OrderRelease:
    return OrderRelease(
        order_id=oid,
        version=version,
        status=status,
        carrier="ZTO",
        recipient=WHO,
        lines=[
            OrderLine(line_id=f"{oid}-{i}", sku_code=s, qty=q) for i, (s, q) in enumerate(lines)
        ],
        wave=wave,
        pick_node=pick_node,
    )


ORDERS = [
    order("O1", "W1", ("A", 2), ("B", 1)),
    order("O2", "W1", ("A", 1), ("C", 2)),
    order("O3", "W2", ("A", 1)),
    order("O4", "W1", ("A", 9), status="on_hold"),  # not released: not in the wave
]


def feed(store: Store, *changes: Change) -> None:
    start = store.down_applied
    numbered = [c.model_copy(update={"seq": start + i + 1}) for i, c in enumerate(changes)]
    applied = store.apply_down(DownBatch(node=NODE, changes=numbered, head=start + len(changes)))
    assert applied == len(changes)


def fill(store: Store) -> None:
    feed(
        store,
        *[
            CatalogueUpserted(
                seq=1, payload=CatalogueUpsert(sku_code=c, name=f"item {c}", barcodes=[b])
            )
            for c, b in SKUS.items()
        ],
        BinsUpserted(seq=1, payload=BinsUpsert(warehouse="WH1", bins=BINS)),
        StockExpectedSet(
            seq=1,
            payload=StockExpected(warehouse="WH1", bins=[b.code for b in BINS], levels=STOCK),
        ),
        *[OrderReleased(seq=1, payload=o) for o in ORDERS],
    )


@pytest.fixture(scope="session")
def operators() -> list[Operator]:
    return [
        Operator(id="li.lei", name="李雷", pin_hash=hash_pin(PINS["li.lei"])),
        Operator(id="han.mei", name="韩梅梅", pin_hash=hash_pin(PINS["han.mei"], scheme="scrypt")),
        Operator(id="viewer", pin_hash=hash_pin(PINS["viewer"]), roles=[]),
    ]


@dataclass
class Clock:
    """Wall clock for the station: each reading moves on ``step`` ms (0 freezes it)."""

    now: int = 1_790_000_000_000
    step: int = 1000

    def __call__(self) -> int:
        self.now += self.step
        return self.now


@dataclass
class Monotonic:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    """A TestClient plus the store behind it and helpers to log in and act."""

    client: TestClient
    store: Store
    clock: Clock
    mono: Monotonic
    tokens: dict[str, str] = field(default_factory=dict)

    def login(self, operator: str = "li.lei") -> dict[str, str]:
        r = self.client.post("/api/v1/login", json={"operator": operator, "pin": PINS[operator]})
        assert r.status_code == 200, r.text
        self.tokens[operator] = r.json()["token"]
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def post(
        self, path: str, headers: dict[str, str], json: Any = None, key: str | None = None
    ) -> Any:
        h = dict(headers)
        if key is not None:
            h["Idempotency-Key"] = key
        return self.client.post(f"/api/v1{path}", headers=h, json=json)

    def scan(self, headers: dict[str, str], barcode: str, key: str | None = None) -> Any:
        r = self.post("/scan", headers, {"barcode": barcode}, key)
        assert r.status_code == 200, r.text
        return r.json()

    def outbox(self, type_: str | None = None) -> list[dict[str, Any]]:
        rows = self.store.conn.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
        events = [orjson.loads(r[0]) for r in rows]
        return [e for e in events if type_ is None or e["type"] == type_]

    def movements(self) -> list[tuple[str, str, str, int]]:
        return [
            (str(k), str(b), str(s), int(d))
            for k, b, s, d in self.store.conn.execute(
                "SELECT key, bin, sku_code, delta FROM stock_movement ORDER BY rowid"
            )
        ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "edge.db"
    store = Store(path, NODE)
    fill(store)
    store.close()
    return path


def make_api(
    db: Path, operators: list[Operator], clock: Clock | None = None, **kw: Any
) -> Iterator[Api]:
    clock = clock or Clock()
    mono = Monotonic()
    app = create_pick_app(
        db,
        NODE,
        operators,
        station=STATION,
        wall_ms=clock,
        monotonic=mono,
        gate_settings=kw.pop("gate_settings", GateSettings(max_failures=3, lockout_s=60)),
        **kw,
    )
    with TestClient(app) as client:
        yield Api(client, app.state.store, clock, mono)


@pytest.fixture
def api(db: Path, operators: list[Operator]) -> Iterator[Api]:
    yield from make_api(db, operators)
