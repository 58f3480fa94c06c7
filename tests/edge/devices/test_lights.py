"""Light and buzzer patterns on gpiozero mock pins: states AND their timings."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from math import isclose

import pytest
from gpiozero.pins.mock import MockFactory

from edge.devices.lights import PATTERNS, Pattern, PatternLights
from edge.stations.scan_check import Signal

pytestmark = pytest.mark.timeout(30)
GREEN, RED, BUZZER = 17, 27, 22
TOLERANCE = 0.04  # seconds; thread wake-ups on a loaded 2-core box


@pytest.fixture
def rig() -> Iterator[tuple[PatternLights, MockFactory]]:
    factory = MockFactory()
    lights = PatternLights(GREEN, RED, BUZZER, pin_factory=factory)
    yield lights, factory
    lights.close()
    factory.reset()


def _changes(factory: MockFactory, pin: int) -> list[tuple[bool, float]]:
    """(state, seconds it lasted) for each change after the pattern started.

    MockPin.states holds (seconds since the previous change, new state); the
    first entry is the pin's creation state and the second's delay is the
    idle time before the pattern, so durations start from the third entry.
    """
    states = factory.pin(pin).states
    return [(bool(prev.state), nxt.timestamp) for prev, nxt in itertools.pairwise(states[1:])]


def _assert_timeline(
    factory: MockFactory, pin: int, expected: tuple[tuple[bool, float], ...]
) -> None:
    got = _changes(factory, pin)
    assert [state for state, _ in got] == [state for state, _ in expected], got
    for (_, took), (_, wanted) in zip(got, expected, strict=True):
        assert isclose(took, wanted, abs_tol=TOLERANCE), (got, expected)


def _untouched(factory: MockFactory, pin: int) -> bool:
    return all(not s.state for s in factory.pin(pin).states)


@pytest.mark.parametrize(
    ("pattern", "dark"),
    [
        (Pattern.OK, RED),
        (Pattern.WRONG_ITEM, GREEN),
        (Pattern.ORDER_COMPLETE, RED),
    ],
)
def test_one_shot_patterns_play_their_exact_timeline(
    rig: tuple[PatternLights, MockFactory], pattern: Pattern, dark: int
) -> None:
    lights, factory = rig
    lights.play(pattern, "test")
    assert lights.wait(5)
    pins = {"green": GREEN, "red": RED, "buzzer": BUZZER}
    for name, track in PATTERNS[pattern].items():
        _assert_timeline(factory, pins[name], track.steps)
        assert factory.pin(pins[name]).state is False  # ends dark and silent
    assert _untouched(factory, dark)


def test_patterns_are_told_apart_by_ear() -> None:
    # The buzzer alone must distinguish every pattern (operator not looking).
    beeps = {p: PATTERNS[p]["buzzer"].steps for p in Pattern if "buzzer" in PATTERNS[p]}
    assert len(set(beeps.values())) == len(beeps) == 4


def test_fault_blinks_until_cleared_and_survives_scans(
    rig: tuple[PatternLights, MockFactory],
) -> None:
    lights, factory = rig
    lights.show(Signal.FAULT, "scale down")
    time.sleep(1.2)
    red = _changes(factory, RED)
    # 0.25 s on / 0.25 s off, repeating: at least four full halves by now.
    assert len(red) >= 4
    for i, (state, took) in enumerate(red[:4]):
        assert state is (i % 2 == 0)
        assert isclose(took, 0.25, abs_tol=TOLERANCE), red
    _assert_timeline(factory, BUZZER, PATTERNS[Pattern.FAULT]["buzzer"].steps)

    # A scan judged during the fault plays in full, then the blink resumes.
    lights.show(Signal.OK, "scan ok during fault")
    assert lights.current is Pattern.OK
    time.sleep(0.9)
    assert lights.current is Pattern.FAULT and lights.fault
    green = _changes(factory, GREEN)
    assert [s for s, _ in green] == [True] and isclose(green[0][1], 0.6, abs_tol=TOLERANCE)
    assert not lights.wait(0.01)  # still blinking

    lights.show(Signal.CLEAR, "recovered")
    assert lights.wait(1)
    assert not lights.fault
    for pin in (GREEN, RED, BUZZER):
        assert factory.pin(pin).state is False
    settled = len(factory.pin(RED).states)
    time.sleep(0.3)
    assert len(factory.pin(RED).states) == settled  # no blinking after clear


def test_a_new_pattern_cuts_the_old_one_short(rig: tuple[PatternLights, MockFactory]) -> None:
    lights, factory = rig
    lights.play(Pattern.WRONG_ITEM)
    time.sleep(0.2)
    lights.play(Pattern.OK)
    assert lights.wait(2)
    red = _changes(factory, RED)
    assert [s for s, _ in red] == [True] and red[0][1] < 0.3  # cut at ~0.2 s, not 1.5 s
    _assert_timeline(factory, GREEN, PATTERNS[Pattern.OK]["green"].steps)


def test_signals_map_to_patterns(rig: tuple[PatternLights, MockFactory]) -> None:
    lights, _ = rig
    lights.show(Signal.ERROR, "wrong item")
    assert lights.current is Pattern.WRONG_ITEM
    lights.show(Signal.CLEAR, "")
    assert lights.current is Pattern.CLEAR
