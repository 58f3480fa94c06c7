"""Light and sound for the operator: what each station :class:`Signal` really plays.

A station says one of the 13 signals of :class:`edge.stations.common.Signal`; the
hardware is a green LED, a red LED and a buzzer, so several signals share a
pattern. :data:`SIGNAL_PATTERNS` is the one mapping, :data:`PATTERNS` what each
pattern plays, and docs/stations.md's table is :func:`signal_table` (a test keeps
them equal). Each pattern is distinct by ear alone, so an operator who is not
looking still knows:

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
steps, optionally repeated. One conductor thread walks the merged timeline of
a pattern's tracks (:func:`timeline`), waiting for each change's time on an
injected ``clock`` and ``wait(cancel, seconds)`` (default :func:`time.monotonic`
and :meth:`threading.Event.wait`), so
the timing is the pattern's, a new pattern cancels the old one at once, and
tests run the player on a manual clock. A FAULT is a background state: OK,
WRONG_ITEM and ORDER_COMPLETE still play in full while a device is down (the
station keeps judging scans), and the fault blink resumes when they end.
NOTICE plays nothing (it must not end a fault blink).

:class:`ConsoleLights` prints the same patterns on a terminal (the demo, a
bench without GPIO); :func:`make_lights` picks one from the ``[feedback]``
section.
"""

from __future__ import annotations

import enum
import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from rich.console import Console

from edge.stations.common import Signal

log = logging.getLogger("guanjia.edge.lights")


class Lights(Protocol):
    """Where a station's :class:`Signal` goes: LEDs and a buzzer, a console, a test recorder."""

    def show(self, signal: Signal, text: str) -> None: ...

    def close(self) -> None: ...


class Output(Protocol):
    """One LED or buzzer (gpiozero's ``LED`` and ``Buzzer`` are ones)."""

    def on(self) -> None: ...

    def off(self) -> None: ...

    def close(self) -> None: ...


#: ``wait(cancel, seconds)``: sleep ``seconds`` unless ``cancel`` is set first; True if it was.
Wait = Callable[[threading.Event, float], bool]


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

#: What each signal plays; None: nothing (a NOTICE must not end a fault blink).
SIGNAL_PATTERNS: Final[dict[Signal, Pattern | None]] = {
    Signal.OK: Pattern.OK,
    Signal.COMPLETE: Pattern.ORDER_COMPLETE,
    Signal.PROMPT: Pattern.OK,
    Signal.NOTICE: None,
    Signal.WRONG_ITEM: Pattern.WRONG_ITEM,
    Signal.NOT_IN_ORDER: Pattern.WRONG_ITEM,
    Signal.OVER_QTY: Pattern.WRONG_ITEM,
    Signal.UNKNOWN: Pattern.WRONG_ITEM,
    Signal.ALREADY_DONE: Pattern.WRONG_ITEM,
    Signal.DO_NOT_SHIP: Pattern.WRONG_ITEM,
    Signal.HOLD: Pattern.WRONG_ITEM,
    Signal.FAULT: Pattern.FAULT,
    Signal.CLEAR: Pattern.CLEAR,
}


def timeline(tracks: Mapping[str, Track]) -> Iterator[tuple[float, str, bool]]:
    """(seconds from the start, output, on) for every step of ``tracks``, in time order.

    A one-shot track ends with its output off; a repeating one never ends (the
    iterator is lazy). Changes at the same moment come in ``tracks`` order.
    """

    def one(name: str, track: Track) -> Iterator[tuple[float, str, bool]]:
        at = 0.0
        while True:
            for on, seconds in track.steps:
                yield at, name, on
                at += seconds
            if not track.repeat:
                yield at, name, False
                return

    return heapq.merge(*(one(n, t) for n, t in tracks.items()), key=lambda change: change[0])


def _event_wait(cancel: threading.Event, seconds: float) -> bool:
    return cancel.wait(seconds)


class PatternLights:
    """Green and red LEDs and a buzzer playing :data:`PATTERNS` for each :class:`Signal`."""

    def __init__(
        self,
        outputs: Mapping[str, Output],
        *,
        patterns: dict[Pattern, dict[str, Track]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Wait = _event_wait,
    ) -> None:
        self._outputs = dict(outputs)
        self._clock = clock
        self.patterns = patterns or PATTERNS
        self._wait = wait
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._conductor: threading.Thread | None = None
        self.fault = False
        self.current: Pattern = Pattern.CLEAR

    def show(self, signal: Signal, text: str) -> None:
        pattern = SIGNAL_PATTERNS[signal]
        log.info(
            "light %s: %s",
            signal.value,
            text,
            extra={"signal": signal.value, "pattern": pattern.value if pattern else None},
        )
        if pattern is not None:
            self.play(pattern)

    def close(self) -> None:
        self._stop_playing()
        for output in self._outputs.values():
            output.close()

    def play(self, pattern: Pattern) -> None:
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

    def playing(self) -> bool:
        """True while a pattern (or the fault blink) still plays."""
        conductor = self._conductor
        return conductor is not None and conductor.is_alive()

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
        for output in self._outputs.values():
            output.off()

    def _conduct(self, pattern: Pattern, cancel: threading.Event) -> None:
        played = self._play_tracks(self.patterns[pattern], cancel)
        if played and pattern is not Pattern.FAULT and self.fault:
            # A scan judged while a device is down: back to the fault blink.
            self.current = Pattern.FAULT
            self._play_tracks(self.patterns[Pattern.FAULT], cancel)

    def _play_tracks(self, tracks: Mapping[str, Track], cancel: threading.Event) -> bool:
        """Play ``tracks`` to their end (True) or until cancelled (False)."""
        start = self._clock()
        try:
            for at, name, on in timeline(tracks):
                # Waits run to the step's time from the start, so late wake-ups do not add up.
                late_by = self._clock() - start
                if at > late_by and self._wait(cancel, at - late_by):
                    return False
                output = self._outputs[name]
                if on:
                    output.on()
                else:
                    output.off()
            return True
        finally:
            for name in tracks:
                self._outputs[name].off()


def gpio_outputs(
    green_pin: int, red_pin: int, buzzer_pin: int, pin_factory: Any = None
) -> dict[str, Output]:
    """The LEDs and the buzzer on GPIO pins (BCM numbering) through gpiozero."""
    from gpiozero import LED, Buzzer  # imported here: only nodes with GPIO need it

    return {
        "green": LED(green_pin, pin_factory=pin_factory),
        "red": LED(red_pin, pin_factory=pin_factory),
        "buzzer": Buzzer(buzzer_pin, pin_factory=pin_factory),
    }


class ConsoleLights:
    """The patterns as coloured lines on a terminal (the demo, a bench without GPIO)."""

    _STYLE: Final[dict[Pattern | None, tuple[str, str]]] = {
        Pattern.OK: ("green", "● GREEN"),
        Pattern.ORDER_COMPLETE: ("bold green", "● DONE "),
        Pattern.WRONG_ITEM: ("bold red", "● RED  "),
        Pattern.FAULT: ("bold red blink", "◌ FAULT"),
        Pattern.CLEAR: ("dim", "○ clear"),
        None: ("dim", "· note "),
    }

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    def show(self, signal: Signal, text: str) -> None:
        pattern = SIGNAL_PATTERNS[signal]
        style, label = self._STYLE[pattern]
        self.console.print(f"[{style}]{label}[/] {text}", highlight=False)
        log.info(
            "light %s: %s",
            signal.value,
            text,
            extra={"signal": signal.value, "pattern": pattern.value if pattern else None},
        )

    def close(self) -> None:
        pass


def make_lights(
    kind: str, green_pin: int, red_pin: int, buzzer_pin: int, mock_pins: bool = False
) -> Lights:
    """``console``, or the GPIO patterns (``gpio``, ``patterns``: the same player)
    on real pins or, with ``mock_pins``, gpiozero's mock pins for a dry run."""
    if kind == "console":
        return ConsoleLights()
    factory = None
    if mock_pins:
        from gpiozero.pins.mock import MockFactory

        factory = MockFactory()
    return PatternLights(gpio_outputs(green_pin, red_pin, buzzer_pin, pin_factory=factory))


# --- what plays, as a table (docs/stations.md) ----------------------------------------------


def describe(track: Track | None) -> str:
    """A track in words: ``on 600 ms``; ``on 150, off 100, on 150 ms``; ``..., repeated``."""
    if track is None:
        return "—"
    ms = ", ".join(f"{'on' if on else 'off'} {round(s * 1000)}" for on, s in track.steps)
    return f"{ms} ms" + (", repeated until CLEAR" if track.repeat else "")


def signal_table() -> str:
    """The markdown table of docs/stations.md: each signal and what the hardware plays."""
    rows = [
        "| signal | pattern | green LED | red LED | buzzer |",
        "| --- | --- | --- | --- | --- |",
    ]
    for signal, pattern in SIGNAL_PATTERNS.items():
        if pattern is None:
            rows.append(f"| {signal.name} | — (nothing; a fault blink goes on) | — | — | — |")
            continue
        tracks = PATTERNS[pattern]
        if not tracks:
            cells = [f"{pattern.name} (all off; ends a FAULT)", "off", "off", "off"]
        else:
            cells = [pattern.name, *(describe(tracks.get(o)) for o in OUTPUTS)]
        rows.append(f"| {signal.name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
