"""A node's alarm in the page's language (the fleet table and a node's page, issue 15).

A node sends its alarm as English text (protocol ``sync.state`` ``alarm``, docs/protocol.md):
its store's fault ("store cannot be written: …", edge/store/store.py) and its watchdog's
("no sync progress for 95 s with 12 events waiting", edge/sync.py ``_watchdog``), joined by
"; ". The protocol keeps the text (a node of any version may send it), so the hub reads the
sentences the edge writes here, as migration 0048 reads old history lines: a text that
parses is said as a sentence (cloud/tasks.py ``say``), the node's own words inside it (a
database error) kept as sent; one that does not parse is shown as sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from cloud.errors import N_
from cloud.orders.reasons import LIST
from cloud.tasks import Gettext, say, sentence

Said = dict[str, Any]


def _idle(m: re.Match[str]) -> Said:
    if m["down"] is None:
        return sentence(
            N_("no sync progress for %(idle)s s with %(backlog)s events waiting"),
            idle=int(m["idle"]),
            backlog=int(m["backlog"]),
        )
    return sentence(
        N_(
            "no sync progress for %(idle)s s with %(backlog)s events waiting,"
            " uplink down for %(down)s s"
        ),
        idle=int(m["idle"]),
        backlog=int(m["backlog"]),
        down=int(m["down"]),
    )


#: The edge's alarm texts (edge/sync.py, edge/store/store.py) and the sentence each is.
_KNOWN: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Said]], ...]] = (
    (
        re.compile(
            r"no sync progress for (?P<idle>\d+) s with (?P<backlog>\d+) events waiting"
            r"(?:, uplink down for (?P<down>\d+) s)?"
        ),
        _idle,
    ),
    (
        re.compile(r"uplink to (?P<broker>\S+) down for (?P<down>\d+) s"),
        lambda m: sentence(
            N_("uplink to %(broker)s down for %(down)s s"),
            broker=m["broker"],
            down=int(m["down"]),
        ),
    ),
    (
        re.compile(r"store is read-only: (?P<why>.*)", re.S),
        lambda m: sentence(N_("store is read-only: %(why)s"), why=m["why"]),
    ),
    (
        re.compile(r"store cannot be written: (?P<why>.*)", re.S),
        lambda m: sentence(N_("store cannot be written: %(why)s"), why=m["why"]),
    ),
)


def _part(text: str) -> Said | None:
    for pattern, said in _KNOWN:
        m = pattern.fullmatch(text)
        if m:
            return said(m)
    return None


def alarm_said(alarm: str) -> Said | None:
    """The sentence of a node's alarm, or None when any part of it is not one the edge writes."""
    parts = [_part(p) for p in alarm.split("; ")]
    if not parts or any(p is None for p in parts):
        whole = _part(alarm)  # a store fault whose own words hold "; "
        return whole
    said = [p for p in parts if p is not None]
    return said[0] if len(said) == 1 else sentence(LIST, items=said)


def alarm_in(alarm: str | None, gettext: Gettext) -> str:
    """A node's alarm in the language of ``gettext``; as sent when it does not parse."""
    if not alarm:
        return ""
    said = alarm_said(alarm)
    if said is None:
        return alarm
    return say(said["msgid"], said["params"], gettext)
