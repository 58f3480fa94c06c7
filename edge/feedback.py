"""Light and sound for the operator: a console and a GPIO implementation.

The patterns are distinct so an operator who is not looking still knows:
OK is one short beep with green, ERROR is three beeps with red held longer,
FAULT blinks red until cleared. GPIO goes through gpiozero, whose mock pin
factory lets tests assert the pin states without hardware.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Protocol

from rich.console import Console

from edge.stations.scan_check import Signal

log = logging.getLogger("guanjia.edge.feedback")


class Feedback(Protocol):
    def show(self, signal: Signal, text: str) -> None: ...

    def close(self) -> None: ...


class ConsoleFeedback:
    _STYLE: ClassVar[dict[Signal, tuple[str, str]]] = {
        Signal.OK: ("green", "● GREEN"),
        Signal.ERROR: ("bold red", "● RED  "),
        Signal.FAULT: ("bold red blink", "◌ FAULT"),
        Signal.CLEAR: ("dim", "○ clear"),
    }

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)

    def show(self, signal: Signal, text: str) -> None:
        style, label = self._STYLE[signal]
        self.console.print(f"[{style}]{label}[/] {text}", highlight=False)
        log.info("light %s: %s", signal.value, text, extra={"signal": signal.value})

    def close(self) -> None:
        pass


class GpioFeedback:
    """Green and red LEDs and a buzzer on GPIO pins (BCM numbering)."""

    def __init__(
        self, green_pin: int, red_pin: int, buzzer_pin: int, pin_factory: Any = None
    ) -> None:
        from gpiozero import LED, Buzzer  # imported here: only nodes with GPIO need it

        self.green = LED(green_pin, pin_factory=pin_factory)
        self.red = LED(red_pin, pin_factory=pin_factory)
        self.buzzer = Buzzer(buzzer_pin, pin_factory=pin_factory)

    def show(self, signal: Signal, text: str) -> None:
        self.green.off()
        self.red.off()
        self.buzzer.off()
        if signal is Signal.OK:
            self.green.blink(on_time=0.6, off_time=0, n=1)
            self.buzzer.beep(on_time=0.08, off_time=0, n=1)
        elif signal is Signal.ERROR:
            self.red.blink(on_time=1.5, off_time=0, n=1)
            self.buzzer.beep(on_time=0.15, off_time=0.1, n=3)
        elif signal is Signal.FAULT:
            self.red.blink(on_time=0.25, off_time=0.25)  # until cleared
        log.info("light %s: %s", signal.value, text, extra={"signal": signal.value})

    def close(self) -> None:
        for dev in (self.green, self.red, self.buzzer):
            dev.close()


def make_feedback(
    kind: str, green_pin: int, red_pin: int, buzzer_pin: int, mock_pins: bool
) -> Feedback:
    if kind == "console":
        return ConsoleFeedback()
    factory = None
    if mock_pins:
        from gpiozero.pins.mock import MockFactory

        factory = MockFactory()
    return GpioFeedback(green_pin, red_pin, buzzer_pin, pin_factory=factory)
