"""What the receiving and returns stations say, as message ids and parameters
(docs/pda.md "Languages").

A verdict's sentence is not English text but :class:`Sentence`: a gettext message id (the
English sentence, with ``{name}`` placeholders) and its parameters, as the hub's tasks
carry theirs (cloud/tasks.py). The station's light, log and journal get the English
(:meth:`Sentence.english`); the PDA pages get the id and the parameters (edge/api/desks.py)
and say it in the page's language from the PDA's catalogue, where these ids are extracted
from (edge/pda/catalogue.py). A parameter is a value (a code, a number, what a person
typed), a sentence (a word the catalogue translates: a zone, a status), a list of
sentences, or "" (an optional part left out).

Every id is a class attribute below, so a typo is a mypy error, and :data:`ALL` lists them
for the page's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Union


def N_(message: str) -> str:
    """Marks a message for extraction (the PDA's catalogue); translated where it is shown."""
    return message


Param = Union[str, int, "Sentence", tuple["Sentence", ...]]


@dataclass(frozen=True, slots=True)
class Sentence:
    msgid: str
    params: tuple[tuple[str, Param], ...] = ()

    def english(self) -> str:
        if not self.params:
            return self.msgid
        return self.msgid.format(**{k: _english(v) for k, v in self.params})

    def plain(self) -> dict[str, object]:
        """As JSON keeps it: ``{"msgid": ..., "params": {...}}``, nested alike."""
        return {"msgid": self.msgid, "params": {k: _plain(v) for k, v in self.params}}


def _english(value: Param) -> str | int:
    if isinstance(value, Sentence):
        return value.english()
    if isinstance(value, tuple):
        return ", ".join(s.english() for s in value)
    return value


def _plain(value: Param) -> object:
    if isinstance(value, Sentence):
        return value.plain()
    if isinstance(value, tuple):
        return [s.plain() for s in value]
    return value


def say(msgid: str, /, **params: Param) -> Sentence:
    return Sentence(msgid, tuple(params.items()))


def english(said: Sequence[Sentence]) -> str:
    return " ".join(s.english() for s in said)


class Common:
    DOUBLE_READ = N_("double read of {code} ignored")
    UNREADABLE = N_("unreadable scan ({problem}): scan again")
    PROBLEM_EMPTY = N_("empty")
    PROBLEM_LONG = N_("{n} characters, more than {max}")
    PROBLEM_CONTROL = N_("control characters {codes}")
    IGNORED = N_("{what} ignored: nothing to do in {state}")
    UNKNOWN_KEY = N_("unknown operator key {key}: see the key card")


class Receiving:
    #: A label the hub asked for (edge/runtimes/serial_labels.py, docs/inbound.md "The new
    #: serial's label"): the hub gave a unit a new serial; the old label is still on it.
    HUB_LABEL_PRINTED = N_(
        "new serial {serial} for {sku}: label printed, stick it on the unit that carries "
        "{old}{receipt}"
    )
    HUB_LABEL_RECEIPT = N_(" (receipt {receipt})")
    HUB_LABEL_FAILED = N_(
        "label of new serial {serial} not printed ({problem}): printed again once the "
        "printer answers"
    )
    HUB_LABEL_UNSURE = N_(
        "label of new serial {serial} may not have printed ({problem}): check the printer; "
        "if it is missing, a lead asks the hub to print it again"
    )
    HUB_LABEL_REFUSED = N_("label of new serial {serial} cannot be printed here: {problem}")
    PO_AMBIGUOUS = N_("{code} is the delivery of {n} open POs ({pos}): scan the PO number instead")
    PO_UNKNOWN = N_("no purchase order or transfer {code} on this node: check the delivery note")
    PO_WRONG_WAREHOUSE = N_("{doc} is for warehouse {warehouse}, this dock is {here}")
    PO_NOT_OPEN = N_("{doc} is {status}: receive nothing against it, call a lead")
    PO_OPEN = N_(
        "{doc}{source}{delivery}: {lines} line(s), {expected} unit(s) expected; "
        "receipt {receipt}: scan the items"
    )
    FROM = N_(" from {source}")
    DELIVERY = N_(" (delivery {code})")
    PO_REOPEN = N_("{doc} is already open: receipt {receipt}")
    PO_MID_RECEIPT = N_(
        "{code} scanned during receipt {receipt} of {doc}: finish or abandon it first"
    )
    ITEM_UNKNOWN = N_("unknown barcode {code}: not in the catalogue nor on {doc}")
    ITEM_UNKNOWN_SERIAL = N_(
        "{code} is no item and no serial in transit on {doc} (a unit that did not leave on "
        "it, or arrived already): set it aside for a lead"
    )
    ITEM_NOT_ON_PO = N_("{sku} is not on {doc}: put it aside")
    ITEM_PO_NOT_OPEN = N_("{doc} was {status} in the cloud: count nothing more; FINISH or ABANDON")
    OVER_TRANSFER = N_(
        "too many {sku}: {doc} shipped {ordered}, {received} received before; "
        "{allowed} more can arrive and {have} are counted"
    )
    OVER_PO = N_(
        "too many {sku}: {doc} ordered {ordered}, its tolerance of {pct}% allows "
        "{allowed} more and {have} are counted"
    )
    RECEIPT_FULL = N_("receipt {receipt} is full: FINISH it and scan {doc} again for the rest")
    SERIAL_TWICE = N_("serial {serial} already counted in this receipt: scan the next unit")
    SERIAL_WANTED = N_(
        "{sku} left {doc} with the serial of each unit: scan the serial on this unit's label"
    )
    SERIAL_NOT_SHIPPED = N_(
        "serial {serial} is not in transit on {doc}: it did not leave on it, or it arrived "
        "already. Set the unit aside for a lead"
    )
    SERIAL_TAKEN = N_(
        "serial {serial} was received already in receipt {receipt} of this node: one unit "
        "cannot arrive twice. Set the unit aside for a lead"
    )
    SERIAL = N_(", serial {serial}")
    ITEM_FAIL = N_("{sku} counted as QC fail ({reason}){serial}: to a damaged bin")
    ITEM_PASS = N_("{sku} ok{serial}: {n} counted")
    QC_NO_REASON = N_("a QC fail needs a reason (printable, at most {max} characters)")
    QC_ARMED = N_("QC fail ({reason}): scan the failed item")
    RECEIPT_EMPTY = N_("nothing counted in receipt {receipt}: scan items, or ABANDON")
    COUNTED = N_("{n} unit(s) counted.")
    PUTAWAY = N_("put {n} {sku}{fail} away in {to}: scan the bin")
    FAILED_WITH = N_(" (QC fail: {reason})")
    TO_BIN = N_("bin {bin} ({zone})")
    TO_ANY_BIN = N_("a bin")
    UNKNOWN_BIN = N_("no bin {code} in warehouse {warehouse}: scan a bin label")
    WRONG_ZONE_FAIL = N_("QC-failed {sku} goes to a damaged, QC or hold bin, not {bin} ({zone})")
    WRONG_ZONE_PASS = N_("{sku} passed QC: not into the damaged bin {bin}")
    PLACED = N_("{n} {sku} in {bin}{other}.")
    SUGGESTED = N_(" (suggested {bin})")
    DONE = N_("receipt {receipt} of {doc} done: {n} unit(s){rest}")
    UNPLACED = N_("; {n} group(s) without a bin")
    ABANDONED = N_("receipt {receipt} abandoned: nothing booked; remove the labels printed for it")
    LABEL_FAILED = N_(
        "label of {sku} {serial} not printed ({problem}): fix the printer, then REPRINT"
    )
    NOTHING_TO_REPRINT = N_("no label waits for a reprint")
    REPRINTING = N_("printing {n} label(s) again")
    PO_STOPPED = N_(
        "{doc} was {status} in the cloud: FINISH sends what is counted for a person to "
        "decide, or ABANDON"
    )
    RESUMED_PUTAWAY = N_("receipt {receipt} resumed, {n} unit(s) counted.")
    RESUMED = N_("receipt {receipt} of {doc} resumed: {n} unit(s) counted, scan on")
    DOCUMENT_FIRST = N_("{code}: scan the purchase order first")
    BIN_TOO_EARLY = N_("bin {code} scanned while counting: FINISH the count first, then put away")
    ITEM_IN_PUTAWAY = N_("{code}: counting is finished, scan a bin (or ABANDON and count again)")


class Returns:
    UNKNOWN = N_(
        "no approved return for {code} on this node: keep the parcel apart and call a lead "
        "(customer service approves the request first)"
    )
    WRONG_WAREHOUSE = N_(
        "return {request} comes back to warehouse {warehouse}, this table is {here}"
    )
    NOT_OPEN = N_("return {request} is {status} in the cloud: take nothing in, call a lead")
    OPEN = N_(
        "{kind} {request} of order {order}: {n} unit(s) asked back; "
        "receipt {receipt}: scan the items"
    )
    REOPEN = N_("return {request} is already open: receipt {receipt}")
    MID_RECEIPT = N_("{code} scanned during return {request}: FINISH or ABANDON it first")
    PARCEL_FIRST = N_("{code}: scan the parcel's return waybill or order number first")
    ITEM_UNKNOWN = N_(
        "unknown barcode {code}: not in the catalogue nor on return {request}; set it apart"
    )
    NOT_ON_RETURN = N_("{sku} is not on return {request} (asked back: {expected}); set it apart")
    OVER = N_(
        "{sku}: return {request} asks back {asked}, all counted; this one is extra, set it apart"
    )
    ITEM = N_("{sku} {n}/{qty} {what}")
    SELLABLE = N_("sellable")
    DAMAGED_WITH = N_("damaged ({reason})")
    NO_REASON = N_("DAMAGED needs a reason (DAMAGED:<reason>), e.g. DAMAGED:屏幕碎裂")
    DAMAGED_ARMED = N_("damaged ({reason}): scan the damaged item")
    RECEIVED = N_("return {request} received: {lines}{missing}")
    RECEIVED_LINE = N_("{sku} {sellable} sellable, {damaged} damaged")
    MISSING = N_("; {n} missing (the cloud opens a task)")
    ABANDONED = N_("receipt {receipt} of {request} abandoned: nothing sent")
    NOW_NOT_OPEN = N_("return {request} is {status} in the cloud now: ABANDON, call a lead")
    RESUMED = N_("receipt {receipt} of {request} resumed: {expected}; scan on")


class Words:
    """Words inside sentences: a parameter that is itself a sentence without parameters."""

    PO = N_("PO {number}")
    TRANSFER = N_("transfer {number}")
    RETURN = N_("return")
    EXCHANGE = N_("exchange")
    # document statuses (protocol/messages.py PoRelease, ReturnRelease)
    OPEN = N_("open")
    RECEIVED = N_("received")
    CLOSED = N_("closed")
    CANCELLED = N_("cancelled")
    # bin zones (protocol/messages.py BinInfo), as the station's English names them
    ZONES: Final = {
        "pick": N_("pick"),
        "reserve": N_("reserve"),
        "shipping": N_("shipping"),
        "qc": N_("qc"),
        "fast_mover": N_("fast_mover"),
        "small_item": N_("small_item"),
        "hold": N_("hold"),
        "damaged": N_("damaged"),
    }
    # station states (the IGNORED sentence)
    STATES: Final = {
        "idle": N_("idle"),
        "counting": N_("counting"),
        "await_fail": N_("await_fail"),
        "putaway": N_("putaway"),
        "damaged": N_("damaged"),
    }


def key_word(event_name: str) -> str:
    """The operator key an event comes from, as the key card names it (``QcFail``: FAIL)."""
    return "FAIL" if event_name == "QcFail" else event_name.upper()


def word(value: str) -> Sentence:
    """A code the catalogue has a word for (a status, a zone, a state); any other code is
    a sentence of its own text, said as it is."""
    return Sentence(value)


def _ids(cls: type) -> list[str]:
    out: list[str] = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            out.extend(v for v in value.values() if isinstance(v, str))
    return out


#: Every message id the receiving and returns stations say (the PDA page's table).
ALL: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(id_ for cls in (Common, Receiving, Returns, Words) for id_ in _ids(cls))
)
