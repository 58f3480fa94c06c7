"""A serial's trace on the dashboard (全程条码跟踪): a search box and the unit's timeline, read
through the same domain function as ``GET /api/v1/serials/{serial}`` (cloud/stock/serials.py),
with the API's scope (stock:read)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud.api.deps import SessionDep
from cloud.errors import N_, NotFoundError
from cloud.stock import serials
from cloud.web import i18n
from cloud.web.deps import StockPage
from cloud.web.render import locale_of, render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/stock/serials")
#: The words of a step's detail (cloud/stock/serials.py writes them in English, as the API
#: gives them) and their message ids, to show the detail in the page's language.
WORDS: Final = (
    ("QC pass", N_("QC pass")),
    ("QC fail", N_("QC fail")),
    ("sellable", N_("Sellable")),
    ("damaged", N_("Damaged")),
    ("missing", N_("Missing")),
)


def _pattern(msgid: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)s", msgid)
    out = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(out)


KNOWN: Final = [(_pattern(m), m) for m in serials.CONFLICTS]


def conflict_in(gettext: Callable[[str], str], sentence: str | None) -> str:
    """A stored conflict sentence in the page's language (as stored when unknown)."""
    for pattern, msgid in KNOWN:
        m = pattern.fullmatch(sentence or "")
        if m:
            return gettext(msgid) % m.groupdict()
    return sentence or ""


def detail_in(gettext: Callable[[str], str], detail: str | None) -> str:
    """A step's detail with its words in the page's language (reasons and codes as typed)."""
    text = detail or ""
    for word, msgid in WORDS:
        if text.startswith(word) or f", {word}" in text:
            text = re.sub(rf"(^|, ){re.escape(word)}\b", rf"\g<1>{gettext(msgid)}", text)
    return text


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def trace_page(
    request: Request,
    user: StockPage,
    session: SessionDep,
    serial: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    gettext = i18n.translations(locale_of(request)).gettext
    wanted = serial.strip()
    steps: list[serials.Step] = []
    missing, status = "", 200
    if wanted:
        try:
            steps = serials.trace(session, user.who.account_id, wanted)
        except NotFoundError as err:
            missing, status = err.translated(gettext), 404
    return render(
        request,
        "serial.html",
        {
            "serial": wanted,
            "steps": steps,
            "details": [detail_in(gettext, st.detail) for st in steps],
            "conflict_texts": [conflict_in(gettext, st.conflict) for st in steps],
            "missing": missing,
        },
        user=user,
        status=status,
    )
