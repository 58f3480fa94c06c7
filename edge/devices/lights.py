"""Station lights and buzzer patterns, on GPIO through gpiozero.

Extends :mod:`edge.feedback` (left as is) with the patterns a packing or
scan-check station needs, each distinct by ear alone so an operator who is
not looking still knows:

==============  ======================================  ===============================
pattern         light                                   buzzer
==============  ======================================  ===============================
OK              green 0.6 s                             one short chirp (80 ms)
WRONG_ITEM      red held 1.5 s                          three 150 ms beeps, 100 ms gaps
ORDER_COMPLETE  green: three 150 ms flashes, then 0.6 s  "ta-ta-taaa": 80, 80, 300 ms
FAULT           red 0.25 s on / 0.25 s off, until       one long 400 ms beep
                cleared
CLEAR           everything off; ends a FAULT
==============  ======================================  ===============================

A pattern is data (:data:`PATTERNS`): per output, a list of (on, seconds)
steps, optionally repeated. One player thread per output walks its steps
with :meth:`threading.Event.wait`, so the timing is the pattern's and a new
pattern cancels the old one at once. A FAULT is a background state: OK,
WRONG_ITEM and ORDER_COMPLETE still play in full while a device is down (the
station keeps judging scans), and the fault blink resumes when they end.

Tests use gpiozero's ``MockFactory``, whose pins record every change with
its time since the previous one (``pin.states``).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from edge.stations.scan_check import Signal

log = logging.getLogger("guanjia.edge.lights")


class Pattern(enum.Enum):
    OK = "ok"
    WRONG_ITEM = "wrong_item"
    ORDER_COMPLETE = "order_complete"
    FAULT = "fault"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Track:
    """One output's part of a pattern: (on, seconds) steps, played once or looped."""

    steps: tuple[tuple[bool, float], ...]
    repeat: bool = False

    @property
    def duration(self) -> float:
        return sum(seconds for _, seconds in self.steps)


def _beeps(on: Sequence[float], gap: float) -> tuple[tuple[bool, float], ...]:
    steps: list[tuple[bool, float]] = []
    for i, seconds in enumerate(on):
        if i:
            steps.append((False, gap))
        steps.append((True, seconds))
    return tuple(steps)


OUTPUTS: Final = ("green", "red", "buzzer")
PATTERNS: Final[dict[Pattern, dict[str, Track]]] = {
    Pattern.OK: {
        "green": Track(((True, 0.6),)),
        "buzzer": Track(((True, 0.08),)),
    },
    Pattern.WRONG_ITEM: {
        "red": Track(((True, 1.5),)),
        "buzzer": Track(_beeps((0.15, 0.15, 0.15), gap=0.1)),
    },
    Pattern.ORDER_COMPLETE: {
        "green": Track(_beeps((0.15, 0.15, 0.15, 0.6), gap=0.1)),
        "buzzer": Track(_beeps((0.08, 0.08, 0.3), gap=0.08)),
    },
    Pattern.FAULT: {
        "red": Track(((True, 0.25), (False, 0.25)), repeat=True),
        "buzzer": Track(((True, 0.4),)),
    },
    Pattern.CLEAR: {},
}
SIGNAL_PATTERNS: Final = {
    Signal.OK: Pattern.OK,
    Signal.ERROR: Pattern.WRONG_ITEM,
    Signal.FAULT: Pattern.FAULT,
    Signal.CLEAR: Pattern.CLEAR,
}


class PatternLights:
    """Green and red LEDs and a buzzer on GPIO (BCM numbering) playing :data:`PATTERNS`.

    Implements the :class:`edge.feedback.Feedback` protocol (``show(signal,
    text)``, ``close()``) plus :meth:`play` for patterns the station's
    :class:`Signal` has no name for yet (ORDER_COMPLETE).
    """

    def __init__(
        self,
        green_pin: int,
        red_pin: int,
        buzzer_pin: int,
        pin_factory: Any = None,
        patterns: dict[Pattern, dict[str, Track]] | None = None,
    ) -> None:
        from gpiozero import LED, Buzzer  # only nodes with GPIO need gpiozero

        self._outputs: dict[str, Any] = {
            "green": LED(green_pin, pin_factory=pin_factory),
            "red": LED(red_pin, pin_factory=pin_factory),
            "buzzer": Buzzer(buzzer_pin, pin_factory=pin_factory),
        }
        self.patterns = patterns or PATTERNS
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._conductor: threading.Thread | None = None
        self.fault = False
        self.current: Pattern = Pattern.CLEAR

    # --- Feedback protocol ---------------------------------------------------------

    def show(self, signal: Signal, text: str) -> None:
        self.play(SIGNAL_PATTERNS[signal], text)

    def close(self) -> None:
        self._stop_playing()
        for output in self._outputs.values():
            output.close()

    # --- patterns ----------------------------------------------------------------------

    def play(self, pattern: Pattern, text: str = "") -> None:
        """Start ``pattern`` now, cancelling whatever one-shot pattern was playing."""
        with self._lock:
            self._stop_playing()
            if pattern is Pattern.FAULT:
                self.fault = True
            elif pattern is Pattern.CLEAR:
                self.fault = False
            self.current = pattern
            self._cancel = threading.Event()
            self._conductor = threading.Thread(
                target=self._conduct,
                args=(pattern, self._cancel),
                name=f"lights {pattern.value}",
                daemon=True,
            )
            self._conductor.start()
        log.info("light %s: %s", pattern.value, text, extra={"signal": pattern.value})

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a one-shot pattern to end; True if it did (tests, shutdown)."""
        conductor = self._conductor
        if conductor is None:
            return True
        conductor.join(timeout)
        return not conductor.is_alive()

    def _stop_playing(self) -> None:
        self._cancel.set()
        if self._conductor is not None and self._conductor is not threading.current_thread():
            self._conductor.join()
        self._conductor = None
        self._all_off()

    def _all_off(self) -> None:
        for output in self._outputs.values():
            output.off()

    def _conduct(self, pattern: Pattern, cancel: threading.Event) -> None:
        self._play_tracks(self.patterns[pattern], cancel)
        if pattern is not Pattern.FAULT and self.fault and not cancel.is_set():
            # A scan judged while a device is down: back to the fault blink.
            self.current = Pattern.FAULT
            self._play_tracks(self.patterns[Pattern.FAULT], cancel)

    def _play_tracks(self, tracks: dict[str, Track], cancel: threading.Event) -> None:
        players = [
            threading.Thread(
                target=self._play_track, args=(self._outputs[name], track, cancel), daemon=True
            )
            for name, track in tracks.items()
        ]
        for player in players:
            player.start()
        for player in players:
            player.join()

    @staticmethod
    def _play_track(output: Any, track: Track, cancel: threading.Event) -> None:
        try:
            while True:
                for on, seconds in track.steps:
                    if on:
                        output.on()
                    else:
                        output.off()
                    if cancel.wait(seconds):
                        return
                if not track.repeat:
                    return
        finally:
            output.off()


def make_lights(
    green_pin: int, red_pin: int, buzzer_pin: int, mock_pins: bool = False
) -> PatternLights:
    """Lights on real GPIO, or on gpiozero's mock pins for a dry run."""
    factory = None
    if mock_pins:
        from gpiozero.pins.mock import MockFactory

        factory = MockFactory()
    return PatternLights(green_pin, red_pin, buzzer_pin, pin_factory=factory)
