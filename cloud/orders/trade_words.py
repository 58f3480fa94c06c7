"""Why a channel's trade could not be used, in the page's language (issue 15, "zh_CN complete").

The channel intake refuses a trade it cannot make an order of with an English sentence
(cloud/channels/intake.py ``Unusable``: "the address is incomplete or unreadable (city,
phone)"). That English is kept where it lands: a channel change's detail, and the ``why`` of
the hold "the buyer changed the address on the channel: %(why)s" (cloud/channels/changes.py)
in the order's history and hold. The pages read it here as a sentence, as the fleet page
reads a node's alarm (cloud/web/alarms.py): a text that parses is said in the page's
language, the trade's own values inside it (a SKU code, a quantity) kept as they came; one
that does not parse is shown as stored. English keeps the text, as the API says it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from cloud.errors import N_, Gettext, Said, say, sentence

#: The hold a channel's address edit gives an order when the new address is unusable
#: (cloud/channels/changes.py): its ``why`` is intake's English.
ADDRESS_HELD: Final = N_("the buyer changed the address on the channel: %(why)s")
#: The recipient's fields as intake names them (protocol/messages.py ``Recipient``), labelled
#: as the rule editor labels an order's address (cloud/orders/reasons.py ``FIELD_LABELS``).
RECIPIENT_FIELDS: Final = {
    "name": N_("recipient's name"),
    "phone": N_("phone number"),
    "province": N_("province"),
    "city": N_("city"),
    "district": N_("district"),
    "address": N_("street address"),
}
COMMA: Final = N_("%(head)s, %(tail)s")


def _fields(text: str) -> Said:
    """ "city, phone" as the fields' labels joined (an unknown name stays as it is)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    parts = [sentence(RECIPIENT_FIELDS[n]) if n in RECIPIENT_FIELDS else n for n in names]
    out: Any = parts[-1] if parts else ""
    for part in reversed(parts[:-1]):
        out = sentence(COMMA, head=part, tail=out)
    return out if isinstance(out, dict) else sentence(N_("%(items)s"), items=out)


def _what(text: str) -> Said | str:
    """A value's name: "line 12 price" is a line's price; a field of the marketplace's API
    ("refund_fee") stays as it is named there."""
    m = re.fullmatch(r"line (?P<line>.*) price", text)
    return sentence(N_("line %(line)s price"), line=m["line"]) if m else text


#: intake's sentences (cloud/channels/intake.py, every ``raise Unusable``; sold_at.py's
#: ``Unrouted``) and what each is.
_KNOWN: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Said]], ...]] = (
    (
        re.compile(r"the address is incomplete or unreadable \((?P<fields>[a-z_, ]*)\)"),
        lambda m: sentence(
            N_("the address is incomplete or unreadable (%(fields)s)"),
            fields=_fields(m["fields"]),
        ),
    ),
    (
        re.compile(r"(?P<what>[^:]+) is not an amount of money: (?P<text>.*)", re.S),
        lambda m: sentence(
            N_("%(what)s is not an amount of money: %(text)s"),
            what=_what(m["what"]),
            text=m["text"],
        ),
    ),
    (
        re.compile(r"(?P<what>[^:]+) is missing"),
        lambda m: sentence(N_("%(what)s is missing"), what=_what(m["what"])),
    ),
    (re.compile(r"the trade has no lines"), lambda m: sentence(N_("the trade has no lines"))),
    (
        # A Shopify order partly fulfilled elsewhere, nothing of it left to send.
        re.compile(r"every line of the trade is sent already"),
        lambda m: sentence(N_("every line of the trade is sent already")),
    ),
    (re.compile(r"a line is not an object"), lambda m: sentence(N_("a line is not an object"))),
    (
        re.compile(r"SKU (?P<sku>.+) is not in the catalogue", re.S),
        lambda m: sentence(N_("SKU %(sku)s is not in the catalogue"), sku=m["sku"]),
    ),
    (
        re.compile(
            r"line (?P<line>.*): the order cannot hold these values \((?P<fields>[a-z_, ]*)\):"
            r" out of range or unreadable",
            re.S,
        ),
        lambda m: sentence(
            N_("line %(line)s: the order cannot hold these values (%(fields)s)"),
            line=m["line"],
            fields=_fields(m["fields"]),
        ),
    ),
    (
        re.compile(
            r"the order cannot hold these values \((?P<fields>[a-z_, ]*)\):"
            r" out of range or unreadable"
        ),
        lambda m: sentence(
            N_("the order cannot hold these values (%(fields)s)"), fields=_fields(m["fields"])
        ),
    ),
    (
        # cloud/channels/sold_at.py: Shopify sold the order from a location no warehouse of
        # ours is mapped to.
        re.compile(r"Shopify location (?P<location>[0-9]+) is not mapped to a warehouse"),
        lambda m: sentence(
            N_("Shopify location %(location)s is not mapped to a warehouse"),
            location=m["location"],
        ),
    ),
    (
        re.compile(r"line (?P<line>.*): quantity (?P<qty>.*) is not 1 to 100000", re.S),
        lambda m: sentence(
            N_("line %(line)s: quantity %(qty)s is not 1 to 100000"),
            line=m["line"],
            qty=m["qty"],
        ),
    ),
)


def unusable_said(text: str) -> Said | None:
    """The sentence of intake's refusal, or None when the text is not one intake writes."""
    for pattern, said in _KNOWN:
        m = pattern.fullmatch(text)
        if m:
            return said(m)
    return None


def unusable_in(text: str, gettext: Gettext) -> str:
    """intake's refusal in the language of ``gettext``; as stored when it does not parse or
    the page is English (the API's words)."""
    said = unusable_said(text)
    if said is None or gettext(said["msgid"]) == said["msgid"]:
        return text
    return say(said["msgid"], said["params"], gettext)


def with_trade_words(
    message: str | None, params: dict[str, Any], gettext: Gettext
) -> dict[str, Any]:
    """The parameters of a sentence with intake's English in them (:data:`ADDRESS_HELD`) said in
    the page's language; any other sentence's as they are."""
    why = params.get("why")
    if message != ADDRESS_HELD or not isinstance(why, str):
        return params
    return {**params, "why": unusable_in(why, gettext)}
