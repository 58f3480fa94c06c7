"""An audit decision's reason and an order's history line as sentences, said in the page's
language.

Every reason the audit gives (cloud/orders/audit_rules.py) is a gettext message id marked
``N_`` and its parameters, as a task's detail is (cloud/tasks.py): a parameter may be a
sentence itself (the ledger's refusal inside "stock short: …", a rule's conditions, a
courier that does not reach the address). ``order_decision`` keeps both beside the English
the API answers (migration 0046); the pages say them again with :func:`reason_in`.

An order's history line (``order_log``, cloud/orders/core.py ``note``) is said the same way
(migration 0048): a line the hub writes is a sentence (``sentence(N_("merged into
%(order)s"), order=…)``), kept as ``message`` and ``params`` beside the English ``reason``
the API answers (:func:`written`); what a person typed (a hold's or a reversal's reason) is
a plain ``str`` and stays as typed, in English and in Chinese alike (:func:`line_in`). A
person's words inside a sentence ("pick lease A → B: %(reason)s") are a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal

from cloud.errors import N_

# Who did it (a history line's, a decision's, a movement's actor): cloud/errors.py, where a
# refusal's "changed by %(by)s" names the same actors; importable from here as before.
from cloud.errors import SYSTEM_ACTORS as SYSTEM_ACTORS
from cloud.errors import actor_in as actor_in

# A history line's columns and its English: cloud/errors.py, where the ledger's movements
# (cloud/stock/ledger.py) write theirs the same way; importable from here as before.
from cloud.errors import english as english
from cloud.errors import written as written
from cloud.orders.trade_words import with_trade_words
from cloud.tasks import Gettext, say, sentence

#: A reason as a sentence: ``{"msgid", "params"}`` (cloud/tasks.py ``sentence``).
Said = dict[str, Any]
#: Several reasons, each said in the page's language, joined by "; " (cloud/tasks.py ``say``).
LIST: Final = N_("%(items)s")

#: A condition that held, said with its op (the English keeps the API's codes: "total 1299.00
#: gte 999"; the pages put the field's label in, :func:`reason_in`).
HELD_BY_OP: Final = {
    "eq": N_("%(field)s %(value)s eq %(want)s"),
    "ne": N_("%(field)s %(value)s ne %(want)s"),
    "gt": N_("%(field)s %(value)s gt %(want)s"),
    "gte": N_("%(field)s %(value)s gte %(want)s"),
    "lt": N_("%(field)s %(value)s lt %(want)s"),
    "lte": N_("%(field)s %(value)s lte %(want)s"),
    "contains": N_("%(field)s %(value)s contains %(want)s"),
}
#: The rule editor's labels of the fields (cloud/web/templates/_rule_labels.html): what a
#: condition's ``field`` parameter is shown as in the pages' language.
FIELD_LABELS: Final = {
    "total": N_("order total (yuan)"),
    "province": N_("province"),
    "city": N_("city"),
    "district": N_("district"),
    "address": N_("street address"),
    "date": N_("audit day (YYYY-MM-DD)"),
    "weight_g": N_("weight (g)"),
    "channel": N_("channel"),
    "buyer_carrier": N_("buyer's courier"),
    "seller_carrier": N_("seller's courier"),
    "sku": N_("a line's SKU"),
}
#: The channels' names (cloud/web/templates/_macros.html ``channel_name``): what an order's
#: ``channel`` parameter is shown as in the pages' language ("淘宝订单"; English: "taobao order",
#: the code, as the API has always said it).
CHANNEL_LABELS: Final = {
    "manual": N_("manual order"),
    "bank_transfer": N_("bank transfer"),
    "taobao": N_("Taobao"),
    "jd": N_("JD"),
    "pdd": N_("Pinduoduo"),
    "shop": N_("online shop"),
    "shopify": N_("Shopify"),
}
#: Two parts of one history line joined as the hub always joined them in English ("wave W1,
#: pick node wh1-pick-1"); the Chinese joins them with "，". A longer list nests (:func:`commas`).
COMMA: Final = N_("%(head)s, %(tail)s")


@dataclass
class Decision:
    """One check or rule that fired. Its reason is a sentence: ``message`` (an ``N_`` message
    id) and ``params`` (plain JSON, nested sentences allowed: cloud/tasks.py), stored so the
    pages say it in their language; :attr:`reason` is the English the API answers."""

    check: str
    outcome: Literal["pass", "hold", "assign", "skip", "add"]
    message: str
    rule_key: str | None = None
    rule_version: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def said(
        cls,
        check: str,
        outcome: Literal["pass", "hold", "assign", "skip", "add"],
        why: Said,
        rule_key: str | None = None,
        rule_version: int | None = None,
    ) -> Decision:
        return cls(check, outcome, why["msgid"], rule_key, rule_version, why["params"])

    @property
    def reason(self) -> str:
        return say(self.message, self.params)

    def amend(
        self, outcome: Literal["pass", "hold", "assign", "skip", "add"], message: str, **params: Any
    ) -> None:
        """A later step's word on it ("gift out of stock"): the reason so far nests in."""
        why = sentence(message, reason=sentence(self.message, **self.params), **params)
        self.outcome, self.message, self.params = outcome, why["msgid"], why["params"]


def yuan(cents: int) -> str:
    """Cents as yuan with two decimals (Decimal, never float)."""
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def remark_hold(remark: str) -> Said:
    """The remark check's hold: a person reads the buyer's words (cut at 200 characters)."""
    return sentence(N_("buyer remark needs a human: %(remark)s"), remark=remark[:200])


def stock_short(why: Any) -> Said:
    """The stock check's hold: the ledger's refusal (a Sentence, nested) or its text."""
    return sentence(N_("stock short: %(why)s"), why=why)


def stock_reserved() -> Said:
    return sentence(N_("stock reserved"))


def _labelled(params: dict[str, Any], gettext: Gettext) -> dict[str, Any]:
    """A condition's ``field`` (an API code) as its label in the page's language (not in
    English: the code stays, as the API says it), all the way down the nested sentences."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, dict) and "msgid" in v:
            v = {"msgid": v["msgid"], "params": _labelled(v.get("params") or {}, gettext)}
        elif isinstance(v, list):
            v = [
                {"msgid": x["msgid"], "params": _labelled(x.get("params") or {}, gettext)}
                if isinstance(x, dict) and "msgid" in x
                else x
                for x in v
            ]
        elif k == "field" and v in FIELD_LABELS and gettext(FIELD_LABELS[v]) != FIELD_LABELS[v]:
            v = gettext(FIELD_LABELS[v])  # English keeps the code, as the API says it
        elif (
            k == "channel"
            and v in CHANNEL_LABELS
            and gettext(CHANNEL_LABELS[v]) != CHANNEL_LABELS[v]
        ):
            v = gettext(CHANNEL_LABELS[v])
        out[k] = v
    return out


def reason_in(
    message: str | None, params: dict[str, Any] | None, reason: str, gettext: Gettext
) -> str:
    """A decision's reason in the language of ``gettext``. A row from before migration 0046
    whose English did not parse has no message id: its English text, or the catalogue's
    word for it when it is a fixed reason."""
    if not message:
        return gettext(reason) if reason else reason
    said = with_trade_words(message, params or {}, gettext)
    return say(message, _labelled(said, gettext), gettext)


# --- an order's history line (migration 0048) ------------------------------------------


def commas(parts: list[Said]) -> Said:
    """Sentences joined by ", " in English (as the history said them before 0048), each
    translated; one part is itself."""
    out = parts[-1]
    for part in reversed(parts[:-1]):
        out = sentence(COMMA, head=part, tail=out)
    return out


def created(channel: str) -> Said:
    """An order's first history line: where it came from ("taobao order", "manual order")."""
    if channel == "manual":
        return sentence(N_("manual order"))
    return sentence(N_("%(channel)s order"), channel=channel)


def line_in(
    message: str | None, params: dict[str, Any] | None, reason: str | None, gettext: Gettext
) -> str:
    """A history line in the language of ``gettext``. Without a message id it is a person's
    words, or a line from before 0048 whose English did not parse: shown as stored."""
    if not message:
        return reason or ""
    said = with_trade_words(message, params or {}, gettext)
    return say(message, _labelled(said, gettext), gettext)
