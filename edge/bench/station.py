"""Station benchmarks: the pick route (issue: a 200-line wave over 5,000 bins in <= 200 ms).

The warehouse is generated, seeded, deterministic: aisles 1.5 m wide (``x``),
bins 1 m apart along them (``y``), a front and a back cross-aisle, numbered in
the serpentine (S-shape) walk order a warehouse is usually labelled in, and
split into fast-mover, pick and small-item zones by aisle. The wave's lines
land on random bins. The figure of merit is the time to allocate and route
the wave (:class:`edge.stations.pick.PickStation` loading it), beside the
route length and the naive walk-order route's length.
"""

from __future__ import annotations

import random
import time

from protocol.messages import BinInfo, OrderLine, OrderRelease, Recipient, StockLevel

AISLE_PITCH_M = 1.5
BINS_PER_AISLE = 50


def make_warehouse(bins: int, seed: int = 1) -> dict[str, BinInfo]:
    aisles = max(1, -(-bins // BINS_PER_AISLE))
    table: dict[str, BinInfo] = {}
    n = 0
    for aisle in range(aisles):
        zone = (
            "fast_mover"
            if aisle < aisles // 5
            else "small_item"
            if aisle >= aisles * 4 // 5
            else "pick"
        )
        for pos in range(BINS_PER_AISLE):
            if n == bins:
                break
            y = float(pos if aisle % 2 == 0 else BINS_PER_AISLE - 1 - pos)
            code = f"A{aisle:03d}-{int(y):02d}"
            table[code] = BinInfo(
                code=code,
                zone=zone,
                x=aisle * AISLE_PITCH_M,
                y=y + 1.0,
                walk_order=n,
                barcode=f"BIN{n:06d}",
            )
            n += 1
    return table


def make_wave(
    lines: int, table: dict[str, BinInfo], seed: int = 1
) -> tuple[tuple[OrderRelease, ...], tuple[StockLevel, ...]]:
    rng = random.Random(seed)
    codes = sorted(table)
    recipient = Recipient(
        name="张三", phone="13800000000", province="湖南", city="长沙", address="岳麓区 1 号"
    )
    orders: list[OrderRelease] = []
    stock: list[StockLevel] = []
    per_order = 4
    for o in range(-(-lines // per_order)):
        order_lines = []
        for k in range(min(per_order, lines - o * per_order)):
            sku = f"SKU-{o:04d}-{k}"
            qty = rng.randint(1, 3)
            order_lines.append(OrderLine(line_id=f"L{k}", sku_code=sku, qty=qty))
            stock.append(StockLevel(bin=rng.choice(codes), sku_code=sku, qty=qty + 5))
        orders.append(
            OrderRelease(
                order_id=f"SO{o:05d}",
                version=1,
                carrier="ZTO",
                waybill=f"ZT{o:010d}",
                recipient=recipient,
                lines=order_lines,
                wave="W1",
            )
        )
    return tuple(orders), tuple(stock)


def bench_pick_route(lines: int = 200, bins: int = 5000, seed: int = 1) -> dict[str, float]:
    """Route a ``lines``-line wave over ``bins`` bins; time it and compare with walk order."""
    from edge.stations.pick import PickConfig, PickStation, WaveLoaded

    table = make_warehouse(bins, seed)
    orders, stock = make_wave(lines, table, seed)
    runs = []
    station = PickStation(PickConfig("bench-pick"))
    for _ in range(5):
        station = PickStation(PickConfig("bench-pick"))
        t0 = time.perf_counter()
        station.handle(WaveLoaded("W1", orders, table, stock))
        runs.append(time.perf_counter() - t0)
    route = station.route
    assert route is not None
    return {
        "lines": float(lines),
        "bins": float(bins),
        "stops": float(len(station.stops)),
        "route_ms_median": sorted(runs)[len(runs) // 2] * 1000,
        "route_ms_max": max(runs) * 1000,
        "route_length_m": route.length,
        "naive_walk_order_length_m": route.naive_length,
        "saving_pct": 100.0 * (1 - route.length / route.naive_length)
        if route.naive_length
        else 0.0,
    }
