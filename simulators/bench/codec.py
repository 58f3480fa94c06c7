"""Codec benchmark: the batch codec (orjson) beside msgpack on the same events.

Both sides do the same work: encode typed events into one batch, then decode
and validate every event back into its pydantic model. The validation cost
is common to both; the difference is the serialisation.
"""

from __future__ import annotations

import time
import uuid

from rich.console import Console
from rich.table import Table

from protocol import codec
from protocol.messages import EVENT_ADAPTER, ScanPayload, ScanRecorded


def _events(n: int) -> list[ScanRecorded]:
    return [
        ScanRecorded(
            node="wh1-pack-1",
            epoch=3,
            seq=i + 1,
            id=uuid.UUID(int=i),
            hlc=(1_790_000_000_000 << 16) + i,
            payload=ScanPayload(
                station="pack-1",
                barcode=f"69012345{i:05d}",
                sku_code="MKING IPAD AIR2 金甲系列皮套-金色",
                verdict="ok",
            ),
        )
        for i in range(n)
    ]


def _time(fn: object, rounds: int) -> float:
    assert callable(fn)
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(n: int = 500, rounds: int = 20) -> dict[str, float]:
    import msgpack

    events = _events(n)
    encoded = [codec.encode_event(e) for e in events]
    json_batch = codec.encode_batch("wh1-pack-1", encoded)
    mp_batch = msgpack.packb(
        {"v": 1, "node": "wh1-pack-1", "events": [e.model_dump(mode="json") for e in events]}
    )

    def json_enc() -> None:
        codec.encode_batch("wh1-pack-1", [codec.encode_event(e) for e in events])

    def json_dec() -> None:
        codec.decode_batch(json_batch, "wh1-pack-1")

    def mp_enc() -> None:
        msgpack.packb(
            {"v": 1, "node": "wh1-pack-1", "events": [e.model_dump(mode="json") for e in events]}
        )

    def mp_dec() -> None:
        obj = msgpack.unpackb(mp_batch)
        for raw in obj["events"]:
            EVENT_ADAPTER.validate_python(raw)

    figures = {
        "orjson_bytes_per_event": len(json_batch) / n,
        "msgpack_bytes_per_event": len(mp_batch) / n,
        "orjson_encode_eps": n / _time(json_enc, rounds),
        "msgpack_encode_eps": n / _time(mp_enc, rounds),
        "orjson_decode_eps": n / _time(json_dec, rounds),
        "msgpack_decode_eps": n / _time(mp_dec, rounds),
    }
    table = Table(title=f"batch codec, {n} scan events per batch (best of {rounds})")
    table.add_column("")
    table.add_column("orjson (chosen)", justify="right")
    table.add_column("msgpack", justify="right")
    for key, label in (
        ("bytes_per_event", "bytes/event"),
        ("encode_eps", "encode events/s"),
        ("decode_eps", "decode+validate events/s"),
    ):
        table.add_row(
            label, f"{figures['orjson_' + key]:,.0f}", f"{figures['msgpack_' + key]:,.0f}"
        )
    Console().print(table)
    return figures
