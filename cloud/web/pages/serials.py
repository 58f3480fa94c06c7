"""A serial's trace on the dashboard (全程条码跟踪): a search box and the unit's timeline, read
through the same domain function as ``GET /api/v1/serials/{serial}`` (cloud/stock/serials.py),
with the API's scope (stock:read). A receipt step in conflict with an open task has the
lead's two buttons (a new serial for that unit, or a mislabel), posting to the same domain
function as ``POST /api/v1/serials/{serial}/resolve`` (cloud/inbound/serial_conflicts.py)
with its scope (stock:write). A serial the hub issued shows its label: printed (when, by
which node) or not yet, with "print again" (cloud/inbound/serial_labels.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from cloud.api.deps import SessionDep
from cloud.api.serials import PrintAgainIn, ResolveIn
from cloud.db.models import Task
from cloud.errors import N_, NotFoundError, say
from cloud.inbound import serial_conflicts, serial_labels
from cloud.stock import serials
from cloud.web import i18n, refusals
from cloud.web.deps import StockPage, StockWriteAction
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
#: The conflicts the lead resolves on this page (two units received under one serial).
TWICE: Final = [p for p, m in KNOWN if m in (serials.RECEIVED_AGAIN, serials.SEEN_AGAIN)]


def _two_units(sentence: str | None) -> bool:
    return any(p.fullmatch(sentence or "") for p in TWICE)


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
    done: bool = False,
    sent: bool = False,
) -> Response:
    gettext = i18n.translations(locale_of(request)).gettext
    wanted = serial.strip()
    steps: list[serials.Step] = []
    open_tasks: set[str] = set()
    missing, status = "", 200
    if wanted:
        try:
            steps = serials.trace(session, user.who.account_id, wanted)
        except NotFoundError as err:
            missing, status = err.translated(gettext), 404
        linked = sorted({st.task for st in steps if st.task})
        if linked:
            open_tasks = set(
                session.execute(
                    select(Task.public_id).where(
                        Task.account_id == user.who.account_id,
                        Task.public_id.in_(linked),
                        Task.status == "open",
                    )
                ).scalars()
            )
    labels = serial_labels.of_serial(session, user.who.account_id, wanted) if steps else []
    return render(
        request,
        "serial.html",
        {
            "serial": wanted,
            "steps": steps,
            # Said in the page's language: the sentences kept since 0055, else the English
            # detail matched word by word.
            "details": [
                ", ".join(say(str(x["msgid"]), x.get("params") or {}, gettext) for x in st.said)
                if st.said
                else detail_in(gettext, st.detail)
                for st in steps
            ],
            "done": done,
            "conflict_texts": [conflict_in(gettext, st.conflict) for st in steps],
            # The receipt steps the lead may resolve here: in conflict, their task open.
            "resolvable": [
                st.kind in serials.RECEIVING and st.task in open_tasks and _two_units(st.conflict)
                for st in steps
            ],
            "missing": missing,
            # The labels of a serial the hub issued (cloud/inbound/serial_labels.py).
            "labels": labels,
            # No node to print the newest: the warehouse's nodes and their kinds say why.
            "label_nodes": serial_labels.nodes_of(
                session, user.who.account_id, labels[-1].warehouse
            )
            if labels and labels[-1].node_id is None and labels[-1].printed_at is None
            else [],
            "sent": sent,
        },
        user=user,
        status=status,
    )


@router.post("/resolve", include_in_schema=False)
async def resolve(request: Request, user: StockWriteAction, session: SessionDep) -> Response:
    form = await request.form()
    serial = str(form.get("serial", "")).strip()
    try:
        body = ResolveIn(
            receipt=str(form.get("receipt", "")),
            action=str(form.get("action", "")),  # checked by the model
            note=str(form.get("note", "")),
        )
    except ValidationError as err:
        raise refusals.invalid(request, err) from err

    def run() -> None:
        serial_conflicts.resolve(
            session,
            user.who.account_id,
            serial[:128],
            body.receipt,
            body.action,
            user.who.actor,
            datetime.now(UTC),
            body.note.strip(),
        )

    await asyncio.to_thread(run)
    return RedirectResponse(
        f"{PREFIX}/stock/serials?serial={quote(serial, safe='')}&done=1", status_code=303
    )


@router.post("/label", include_in_schema=False)
async def print_again(request: Request, user: StockWriteAction, session: SessionDep) -> Response:
    """ "Print again" (an unprinted label sent again) and "re-print" (another label after a
    printed one): the same domain function as ``POST /api/v1/serials/{serial}/label``."""
    form = await request.form()
    serial = str(form.get("serial", "")).strip()
    try:
        body = PrintAgainIn(
            reprint=str(form.get("reprint", "")) == "1", note=str(form.get("note", ""))
        )
    except ValidationError as err:
        raise refusals.invalid(request, err) from err

    def run() -> None:
        serial_labels.again(
            session,
            user.who.account_id,
            serial[:128],
            user.who.actor,
            datetime.now(UTC),
            reprint=body.reprint,
            note=body.note.strip(),
        )

    await asyncio.to_thread(run)
    return RedirectResponse(
        f"{PREFIX}/stock/serials?serial={quote(serial, safe='')}&sent=1", status_code=303
    )
