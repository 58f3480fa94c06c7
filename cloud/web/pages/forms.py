"""What the dashboard's forms share: lines typed one per row, pydantic's refusals as sentences
in the page's language (the same bodies the API validates), and an action run with its
refusal shown on the page again (:func:`acted`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cloud.errors import N_, DomainError
from cloud.web.refusals import gettext_of, sentence

#: Why a typed line is not one (message id, values).
LINE_ERRORS: Final = {
    "qty": N_("line %(n)s: after * comes the quantity, a whole number (%(line)s)"),
    "price": N_("line %(n)s: after @ comes the unit price in yuan, such as 12.50 (%(line)s)"),
}


def parse_lines(
    text: str, *, price: bool, optional: bool = False
) -> tuple[list[tuple[str, int | str, str]], list[tuple[str, dict[str, object]]]]:
    """Rows ``SKU*qty`` (or ``SKU*qty@price`` with ``price``; ``@`` may be left out with
    ``optional``) into (SKU, qty, what follows @); a qty that is not a number is refused
    here, everything else by the API's body model."""
    out: list[tuple[str, int | str, str]] = []
    bad: list[tuple[str, dict[str, object]]] = []
    for n, row in enumerate(text.splitlines(), 1):
        line = row.strip()
        if not line:
            continue
        unit = ""
        if price:
            head, at, unit = line.rpartition("@")
            if at:
                line = head
            elif optional:
                unit = ""
            else:
                bad.append((LINE_ERRORS["price"], {"n": n, "line": row.strip()}))
                continue
        sku, star, qty = line.rpartition("*")
        if not star:
            sku, qty = line, "1"
        qty = qty.strip()
        if not qty.isdigit():
            bad.append((LINE_ERRORS["qty"], {"n": n, "line": row.strip()}))
            continue
        out.append((sku.strip(), int(qty), unit.strip()))
    return out, bad


def validation_errors(
    gettext: Callable[[str], str], err: ValidationError, *, lines_refused: bool = False
) -> list[tuple[str | None, str]]:
    """(field, sentence) for each of pydantic's refusals; the field the form names it by.
    With ``lines_refused`` (the typed rows were refused already) "no lines" is not said too."""
    out: list[tuple[str | None, str]] = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        if lines_refused and loc == ["lines"] and e["type"] == "too_short":
            continue
        field = loc[0] if loc else None
        text = sentence(gettext, e)
        # ("lines", 0, "qty") -> "lines" is the field, "row 1 qty" where in it.
        where = " ".join(
            gettext(N_("row %(n)s")) % {"n": int(p) + 1} if p.isdigit() else p for p in loc[1:]
        )
        out.append((field, f"{where}: {text}" if where else text))
    return out


async def acted(
    request: Request,
    session: Session,
    run: Callable[[], object],
    done: str,
    refused: Callable[[list[str], int], Response],
) -> Response:
    """Run a form's domain action off the event loop (its writes block), then 303 to ``done``
    (post/redirect/get). A refusal rolls the session back, so nothing is half-written, and
    answers ``refused(errors, status)``: the page again with the sentence in its language."""
    try:
        await asyncio.to_thread(run)
    except DomainError as err:
        session.rollback()
        return refused([err.translated(gettext_of(request))], err.status)
    return RedirectResponse(done, status_code=303)
