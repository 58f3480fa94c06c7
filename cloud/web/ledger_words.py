"""A journal entry's kind and memo in the page's language (the books, an order's money, a
statement: issue 15, "zh_CN complete").

The finance poster keeps an entry's ``event_kind`` as a code ("order_paid": the natural key
with its source document, cloud/finance/ledger.py) and its memo as the English the posting
wrote (cloud/finance/postings.py "order paid"; a reversal's "reverses DOC KIND",
cloud/finance/ledger.py ``reverse``). The API and the Beancount export keep both as they are;
the pages say the codes by a name and the postings' own memos in the page's language, as the
fleet page reads a node's alarm (cloud/web/alarms.py). A memo a person typed (a supplier
payment's), a bill's own words (a settlement row's 业务类型) stay as they are. English: the
codes and memos as stored.
"""

from __future__ import annotations

import re
from typing import Final

from cloud.errors import N_, Gettext
from cloud.orders.reasons import CHANNEL_LABELS

#: The entries' kinds (cloud/finance/postings.py, payables.py ``EVENT_KINDS``,
#: courier_bills.py, ledger.py ``reverse``, settlements.py ``settle_<kind>``).
EVENT_KINDS: Final = {
    "order_paid": N_("order paid"),
    "order_shipped": N_("order shipped"),
    "refund_unshipped": N_("refund before shipping"),
    "refund_shipped": N_("refund after shipping"),
    "return_received": N_("return received"),
    "supplier_receipt": N_("supplier receipt"),
    "supplier_payment": N_("supplier payment"),
    "supplier_prepayment": N_("supplier prepayment"),
    "supplier_refund": N_("supplier refund"),
    "prepayment_applied": N_("prepayment applied"),
    "supplier_invoice": N_("supplier invoice"),
    "courier_bill_accepted": N_("courier bill accepted"),
    "courier_dispute_resolved": N_("courier dispute resolved"),
    "reversal": N_("reversal"),
    "settle_sale": N_("settlement: sale"),
    "settle_commission": N_("settlement: commission"),
    "settle_fee": N_("settlement: fee"),
    "settle_refund": N_("settlement: refund"),
    "settle_margin": N_("settlement: deposit"),
    "settle_chargeback": N_("settlement: chargeback"),
    "settle_other": N_("settlement: other"),
}
#: The memos the postings write as they are (cloud/finance/postings.py).
MEMOS: Final = frozenset(
    {
        N_("order paid"),
        N_("shipped"),
        N_("refund"),
        N_("refund after shipping"),
        N_("return received"),
        N_("after-sales refund"),
        N_("received"),
        N_("supplier payment"),
    }
)
REVERSES: Final = N_("reverses %(doc)s %(kind)s")
PREPAYMENT_REFUND: Final = N_("prepayment refund %(memo)s")


def kind_in(kind: str | None, gettext: Gettext) -> str:
    """An entry's kind by its name in the page's language; English (and a kind not listed)
    as the code, as the API says it."""
    if not kind or kind not in EVENT_KINDS:
        return kind or ""
    said = gettext(EVENT_KINDS[kind])
    return kind if said == EVENT_KINDS[kind] else said


def memo_in(memo: str | None, gettext: Gettext) -> str:
    """An entry's memo in the page's language when the poster wrote it; else as stored."""
    if not memo:
        return ""
    if gettext(REVERSES) == REVERSES:
        return memo  # English: as stored
    if memo in MEMOS:
        return gettext(memo)
    m = re.fullmatch(r"reverses (?P<doc>\S+) (?P<kind>[a-z_]+)", memo)
    if m:
        return gettext(REVERSES) % {"doc": m["doc"], "kind": kind_in(m["kind"], gettext)}
    m = re.fullmatch(r"prepayment refund (?P<memo>.+)", memo, re.S)
    if m:
        return gettext(PREPAYMENT_REFUND) % {"memo": m["memo"]}
    return memo


#: An account's stored name (cloud/finance/chart.py ``CHART``: "应收账款-平台待结算 Platform
#: clearing", a sub-account's with " · " and its party): the Chinese words, then the English.
_ACCOUNT_NAME: Final = re.compile(r"(?P<zh>[^\x00-\x7f]\S*) (?P<en>[^·]+?)(?: · (?P<party>.+))?")


def account_name_in(name: str, chinese: bool, gettext: Gettext) -> str:
    """An account's name in the page's language: the chart keeps both languages in one name
    (the Beancount export and the API show it whole); a page shows its own half, and a
    sub-account's channel (1122.bank_transfer) by the channel's name. A name in another form
    (an account a person added) as stored."""
    m = _ACCOUNT_NAME.fullmatch(name)
    if m is None:
        return name
    head, party = (m["zh"] if chinese else m["en"]), m["party"]
    if party is None:
        return head
    return f"{head} · {gettext(CHANNEL_LABELS[party]) if party in CHANNEL_LABELS else party}"
