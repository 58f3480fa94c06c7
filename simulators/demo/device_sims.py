"""The warehouse's device simulators, in-process: the scale (MT-SICS on a pty), one ZPL
label printer per courier (writing label PNGs) and the LLRP reader, on an asyncio loop in
a thread of their own so the demo's blocking steps can drive them."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from simulators.devices.llrp import LLRPReaderSimulator
from simulators.devices.llrp_scenario import Scenario
from simulators.devices.printer import LabelPrinterSimulator
from simulators.devices.scale import ScaleSimulator

T = TypeVar("T")


class DeviceSims:
    """Scale, printers and LLRP reader simulators on an asyncio loop in a thread."""

    def __init__(self, labels: Path, couriers: list[str], scenario: Scenario) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.scale = ScaleSimulator("mt-sics", weight=0, settle_time=0.3)
        self.printers = {c: LabelPrinterSimulator(out_dir=labels) for c in couriers}
        self.reader = LLRPReaderSimulator(scenario, port=0)
        self.scale_port = ""

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.scale_port = self.run(self.scale.start())
        for p in self.printers.values():
            self.run(p.start())
        self.run(self.reader.start())

    def set_weight(self, grams: int) -> None:
        self.loop.call_soon_threadsafe(self.scale.set_weight, grams)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return

        async def down() -> None:
            for stop in (
                self.reader.stop,
                *(p.stop for p in self.printers.values()),
                self.scale.stop,
            ):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(stop(), 3)

        with contextlib.suppress(Exception):
            self.run(down(), 15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
