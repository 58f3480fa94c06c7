"""Light and buzzer patterns: states AND their timings, on a manual clock (no wall time)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from math import isclose
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from rich.console import Console

from edge.devices.lights import (
    OUTPUTS,
    PATTERNS,
    SIGNAL_PATTERNS,
    ConsoleLights,
    Pattern,
    PatternLights,
    Track,
    gpio_outputs,
    signal_table,
    timeline,
)
from edge.stations.common import Signal

pytestmark = pytest.mark.timeout(30)
DOCS = Path(__file__).resolve().parents[3] / "docs" / "stations.md"


class ManualClock:
    """The player's ``wait``: returns once :meth:`advance` has passed its deadline.

    :meth:`settle` returns when the player is waiting for a later time or has
    finished, so a test reads the outputs at an exact fake time.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self._cond = threading.Condition()
        self._deadlines: list[float] = []

    def wait(self, cancel: threading.Event, seconds: float) -> bool:
        with self._cond:
            deadline = self.now + seconds
            self._deadlines.append(deadline)
            self._cond.notify_all()
            try:
                while self.now < deadline - 1e-9 and not cancel.is_set():
                    self._cond.wait(0.005)
                return cancel.is_set()
            finally:
                self._deadlines.remove(deadline)
                self._cond.notify_all()

    def settle(self, lights: PatternLights) -> None:
        give_up = time.monotonic() + 5
        while time.monotonic() < give_up:
            with self._cond:
                waiting = bool(self._deadlines) and min(self._deadlines) > self.now + 1e-9
            if waiting or not lights.playing():
                return
            time.sleep(0.001)
        raise AssertionError("the player never settled")

    def _next_deadline(self) -> float | None:
        with self._cond:
            return min(self._deadlines, default=None)

    def _set(self, now: float, lights: PatternLights) -> None:
        with self._cond:
            self.now = now
            self._cond.notify_all()
        self.settle(lights)

    def advance(self, seconds: float, lights: PatternLights) -> None:
        """Move fake time on by ``seconds``, stopping at every deadline on the way."""
        target = self.now + seconds
        while (deadline := self._next_deadline()) is not None and deadline <= target + 1e-9:
            self._set(deadline, lights)
        self._set(target, lights)

    def run_out(self, lights: PatternLights, limit: float = 10.0) -> None:
        """Advance from deadline to deadline until the pattern ends (or ``limit`` fake s)."""
        start = self.now
        while lights.playing() and self.now - start < limit:
            deadline = self._next_deadline()
            if deadline is None:
                break
            self._set(deadline, lights)


class Recorded:
    """An LED or buzzer that records (fake time, state) for each change."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.state = False
        self.changes: list[tuple[float, bool]] = []

    def on(self) -> None:
        self._set(True)

    def off(self) -> None:
        self._set(False)

    def close(self) -> None:
        pass

    def _set(self, state: bool) -> None:
        if state != self.state:
            self.state = state
            self.changes.append((self.clock.now, state))

    def steps(self) -> list[tuple[bool, float]]:
        """(state, how long it lasted) per change, like a Track's steps."""
        return [
            (state, later - at)
            for (at, state), (later, _) in zip(self.changes, self.changes[1:], strict=False)
        ]


@pytest.fixture
def rig() -> Iterator[tuple[PatternLights, ManualClock, dict[str, Recorded]]]:
    clock = ManualClock()
    outputs = {name: Recorded(clock) for name in OUTPUTS}
    lights = PatternLights(outputs, clock=lambda: clock.now, wait=clock.wait)
    yield lights, clock, outputs
    lights.close()


Rig = tuple[PatternLights, ManualClock, dict[str, Recorded]]


def _same(got: list[tuple[bool, float]], want: tuple[tuple[bool, float], ...]) -> bool:
    return len(got) == len(want) and all(
        g[0] == w[0] and isclose(g[1], w[1], abs_tol=1e-9) for g, w in zip(got, want, strict=True)
    )


def test_timeline_merges_the_tracks_in_time_order() -> None:
    changes = list(timeline(PATTERNS[Pattern.OK]))
    assert changes == [
        (0.0, "green", True),
        (0.0, "buzzer", True),
        (0.08, "buzzer", False),
        (0.6, "green", False),
    ]
    endless = timeline({"red": Track(((True, 0.25), (False, 0.25)), repeat=True)})
    assert [next(endless)[0] for _ in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("pattern", [Pattern.OK, Pattern.WRONG_ITEM, Pattern.ORDER_COMPLETE])
def test_one_shot_patterns_play_their_exact_timeline(rig: Rig, pattern: Pattern) -> None:
    lights, clock, outputs = rig
    lights.play(pattern)
    clock.settle(lights)
    clock.run_out(lights)
    assert not lights.playing()
    for name in OUTPUTS:
        track = PATTERNS[pattern].get(name)
        if track is None:
            assert outputs[name].changes == []  # dark and silent
        else:
            assert _same(outputs[name].steps(), track.steps), (name, outputs[name].changes)
            assert outputs[name].state is False  # ends dark and silent


def test_patterns_are_told_apart_by_ear() -> None:
    # The buzzer alone must distinguish every pattern (operator not looking).
    beeps = {p: PATTERNS[p]["buzzer"].steps for p in Pattern if "buzzer" in PATTERNS[p]}
    assert len(set(beeps.values())) == len(beeps) == 4


def test_fault_blinks_until_cleared_and_survives_scans(rig: Rig) -> None:
    lights, clock, outputs = rig
    lights.show(Signal.FAULT, "scale down")
    clock.settle(lights)
    clock.advance(1.0, lights)
    assert _same(outputs["red"].steps(), ((True, 0.25), (False, 0.25)) * 2)
    assert _same(outputs["buzzer"].steps(), PATTERNS[Pattern.FAULT]["buzzer"].steps)

    # A scan judged during the fault plays in full, then the blink resumes.
    lights.show(Signal.OK, "scan ok during fault")
    clock.settle(lights)
    assert lights.current is Pattern.OK and outputs["green"].state and not outputs["red"].state
    clock.advance(0.6, lights)
    assert lights.current is Pattern.FAULT and lights.fault
    assert outputs["green"].state is False and outputs["red"].state is True
    clock.advance(0.25, lights)
    assert outputs["red"].state is False
    assert lights.playing()  # still blinking

    lights.show(Signal.CLEAR, "recovered")
    clock.settle(lights)
    assert not lights.fault and not lights.playing()
    assert not any(o.state for o in outputs.values())
    settled = len(outputs["red"].changes)
    clock.advance(1.0, lights)
    assert len(outputs["red"].changes) == settled  # no blinking after clear


def test_a_new_pattern_cuts_the_old_one_short(rig: Rig) -> None:
    lights, clock, outputs = rig
    lights.play(Pattern.WRONG_ITEM)
    clock.settle(lights)
    clock.advance(0.15, lights)
    clock.advance(0.05, lights)
    lights.play(Pattern.OK)
    clock.settle(lights)
    assert outputs["red"].changes == [(0.0, True), (0.2, False)]  # cut at 0.2 s, not 1.5 s
    clock.run_out(lights)
    assert _same(outputs["green"].steps(), PATTERNS[Pattern.OK]["green"].steps)
    assert isclose(outputs["green"].changes[0][0], 0.2)


def test_notice_plays_nothing_and_keeps_the_fault(rig: Rig) -> None:
    lights, clock, _ = rig
    lights.show(Signal.FAULT, "printer down")
    clock.settle(lights)
    lights.show(Signal.NOTICE, "ignored")
    assert lights.current is Pattern.FAULT and lights.fault


def test_every_signal_has_a_pattern_entry(rig: Rig) -> None:
    assert set(SIGNAL_PATTERNS) == set(Signal)
    lights, _, _ = rig
    lights.show(Signal.UNKNOWN, "unknown barcode")
    assert lights.current is Pattern.WRONG_ITEM
    lights.show(Signal.COMPLETE, "order labelled")
    assert lights.current is Pattern.ORDER_COMPLETE
    lights.show(Signal.CLEAR, "")
    assert lights.current is Pattern.CLEAR


def test_gpio_outputs_on_mock_pins() -> None:
    factory = MockFactory()
    clock = ManualClock()
    lights = PatternLights(
        gpio_outputs(17, 27, 22, pin_factory=factory), clock=lambda: clock.now, wait=clock.wait
    )
    green, red, buzzer = (factory.pin(n) for n in (17, 27, 22))
    try:
        lights.show(Signal.OK, "ok")
        clock.settle(lights)
        assert green.state and buzzer.state and not red.state
        clock.advance(0.08, lights)
        assert green.state and not buzzer.state
        clock.advance(0.52, lights)
        assert not green.state  # one pulse, then off
        lights.show(Signal.WRONG_ITEM, "wrong item")
        clock.settle(lights)
        assert red.state and not green.state
        clock.run_out(lights)
        assert [s.state for s in buzzer.states].count(True) == 1 + 3  # the chirp, three beeps
    finally:
        lights.close()
        factory.reset()


def test_console_prints_the_pattern() -> None:
    console = Console(record=True, width=100)
    lights = ConsoleLights(console)
    lights.show(Signal.NOT_IN_ORDER, "SKU not in this order")
    lights.show(Signal.COMPLETE, "order labelled")
    out = console.export_text()
    assert "● RED   SKU not in this order" in out and "● DONE  order labelled" in out


def test_docs_table_is_what_the_hardware_plays() -> None:
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- signal-table: .*? -->\n(.*?)<!-- /signal-table -->", text, flags=re.DOTALL
    )
    assert found is not None, "docs/stations.md has no signal table markers"
    assert found[1] == signal_table(), "regenerate it: edge.devices.lights.signal_table()"
