"""The pack station's weighing steps: the expected weight and its tolerance, a stable weight
judged, a lead's override by PIN, the scale lost and back (edge/stations/pack.py, theory of
operation)."""

from __future__ import annotations

from edge.stations.common import (
    Log,
    Record,
    Show,
    Signal,
)
from edge.stations.pack_events import (
    Command,
    Event,
    LeadOverride,
    ScaleBack,
    ScaleLost,
    State,
    WeightStable,
)
from edge.stations.pack_print import PackPrinting
from protocol.messages import (
    OrderWeighedPayload,
)


class PackWeighing(PackPrinting):
    # --- weighing --------------------------------------------------------------------------------

    def expected_weight(self) -> tuple[int, list[str]]:
        """Expected parcel grams and the SKUs without a catalogue weight."""
        total = 0
        unknown: list[str] = []
        for line in self.lines:
            for code, count in line.scanned.items():
                entry = self.seen.get(code)
                grams = entry.weight_g if entry is not None else None
                if grams is None and entry is not None and entry.components:
                    grams = 0
                    for c in entry.components:
                        part = self.seen.get(c.sku_code)
                        if part is None or part.weight_g is None:
                            grams = None
                            break
                        grams += part.weight_g * c.qty
                if grams is None:
                    unknown.append(code)
                else:
                    total += grams * count
        release = self.release
        box = release.box_type if release is not None else None
        total += (
            self.config.packaging_g.get(box, self.config.default_packaging_g)
            if box
            else (self.config.default_packaging_g)
        )
        return total, sorted(set(unknown))

    def tolerance_g(self, expected: int) -> float:
        return self.config.tolerance_abs_g + expected * self.config.tolerance_pct / 100.0

    def _weighed(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, WeightStable)
        release = self.release
        assert release is not None
        self.scale_ok = True
        self.deadline_ms = None
        if not 0 <= event.grams <= 10_000_000:
            text = f"scale reported {event.grams} g: not a usable weight; re-zero and Retry"
            return State.NO_WEIGHT, self._say("weight.bad_reading", Signal.FAULT, text, "error")
        expected, unknown = self.expected_weight()
        tol = self.tolerance_g(expected)
        within = not unknown and abs(event.grams - expected) <= tol
        self.weighed_grams = event.grams
        self.weight_accepted = within
        self.override_by = None
        fact = Record(
            OrderWeighedPayload(
                order_id=release.order_id,
                version=release.version,
                station=self.station,
                grams=event.grams,
                expected_grams=expected,
                within_tolerance=within,
            )
        )
        if within:
            text = f"weight {event.grams} g ok (expected {expected} ± {tol:.0f} g): printing"
            return self._check_printer([fact, self._verdict("weight.ok", text)], text)
        if unknown:
            text = f"weight {event.grams} g cannot be checked: no catalogue weight for {', '.join(unknown)}; a lead must accept it"
        else:
            text = f"weight {event.grams} g is outside {expected} ± {tol:.0f} g: check the parcel; re-weigh or a lead overrides"
        return State.WEIGHT_HOLD, [
            fact,
            self._verdict("weight.hold", text),
            Log("warning", text),
            Show(Signal.HOLD, text),
        ]

    def _override(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, LeadOverride)
        release = self.release
        assert release is not None
        assert self.weighed_grams is not None
        if not event.pin_ok:
            text = f"override refused: wrong PIN for {event.lead}"
            return self.state, self._say(
                "weight.override_refused", Signal.HOLD, text, "warning", lead=event.lead
            )
        expected, _ = self.expected_weight()
        self.weight_accepted = True
        self.override_by = event.lead
        fact = Record(
            OrderWeighedPayload(
                order_id=release.order_id,
                version=release.version,
                station=self.station,
                grams=self.weighed_grams,
                expected_grams=expected,
                within_tolerance=False,
                override_by=event.lead,
            )
        )
        text = f"weight {self.weighed_grams} g accepted by lead {event.lead}: printing"
        return self._check_printer(
            [fact, self._verdict("weight.override", text, lead=event.lead), Log("warning", text)],
            text,
        )

    def _scale_lost(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ScaleLost)
        self.scale_ok = False
        text = f"scale unavailable: {event.reason}"
        nxt = State.NO_WEIGHT if self.state is State.WEIGHING else self.state
        if nxt is State.NO_WEIGHT:
            self.deadline_ms = None
            text += " (reconnect it; weighing resumes)"
        return nxt, self._say("device.scale_lost", Signal.FAULT, text, "error")

    def _scale_back(self, event: Event) -> tuple[State, list[Command]]:
        assert isinstance(event, ScaleBack)
        self.scale_ok = True
        # WEIGHING too: a Retry pressed while the scale was reconnecting asked a scale that
        # was not there, and that request ended unanswered; without a fresh one the
        # operator had to press Retry a second time (issue 19, finding 8b).
        if self.state in (State.NO_WEIGHT, State.WEIGHING):
            return self._request_weight("scale back: put the parcel on the scale")
        return self.state, self._say("device.scale_back", Signal.CLEAR, "scale back", "info")
