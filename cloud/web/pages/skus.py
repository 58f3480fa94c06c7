"""The SKU catalogue: the list with keyword search, a SKU's page (its fields, components,
barcodes drawn to scan and print) and its edit form, and the import of a CSV or XLSX file
through the API's import jobs, with their progress and row-by-row report.

Scopes as the API's cloud/api/skus.py: catalogue:read to see, catalogue:write to change
and to import (the API's ``/skus/imports`` routes need it to read a job too). The form is
validated by the API's request model (``SkuIn``) and saved by the domain call ``PUT
/skus/{code}`` makes; an upload is bounded by the API's body limit (cloud/api/limits.py,
this path listed in cloud/app.py) and submitted by the API's own ``submit_import``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from cloud.api.deps import SessionDep, UnitsDep
from cloud.api.skus import MAX_IMPORT_BYTES, import_kind, submit_import
from cloud.catalogue import import_export, jobs, removal
from cloud.catalogue import skus as catalogue
from cloud.catalogue.skus import SkuIn
from cloud.errors import ConflictError, DomainError, InvalidError
from cloud.web import barcodes, i18n, refusals
from cloud.web import export as exports
from cloud.web.deps import CatalogueAction, CataloguePage, CatalogueWritePage
from cloud.web.render import locale_of, money, render, when
from cloud.web.session import PREFIX, PageError, WebUser

router = APIRouter(prefix=PREFIX + "/skus")
IMPORT_PATH = PREFIX + "/skus/imports"
PAGE = 50
Keywords = Annotated[str | None, Query(max_length=200)]
JobId = Annotated[str, Path(max_length=36)]


def N_(message: str) -> str:
    """Marks a message for the catalogue (pybabel extracts ``N_``); translated when shown."""
    return message


#: The form's fields and their labels (also naming the field of an error).
LABELS = {
    "sku_code": N_("SKU code"),
    "name": N_("Name"),
    "barcodes": N_("Barcodes"),
    "brand": N_("Brand"),
    "model": N_("Model"),
    "series": N_("Series"),
    "category": N_("Category"),
    "colour": N_("Colour"),
    "kind": N_("Kind"),
    "own_brand": N_("Own brand"),
    "weight_g": N_("Weight (g)"),
    "length_mm": N_("Length (mm)"),
    "width_mm": N_("Width (mm)"),
    "height_mm": N_("Height (mm)"),
    "price_cents": N_("Price (yuan)"),
    "min_price_cents": N_("Lowest price (yuan)"),
    "gtin": N_("GTIN"),
    "serial_tracked": N_("Serial numbers tracked"),
    "components": N_("Components"),
}
KINDS = {"item": N_("item"), "bundle": N_("bundle"), "component": N_("component")}
TEXT_FIELDS = ("name", "brand", "model", "series", "category", "colour", "gtin")
NUMBER_FIELDS = ("weight_g", "length_mm", "width_mm", "height_mm")
PRICE_FIELDS = ("price_cents", "min_price_cents")

#: The catalogue's refusals (cloud/catalogue/skus.py), by their English sentence.
DOMAIN = [
    (re.compile(r"barcode (?P<barcode>.+) already belongs to SKU (?P<sku>.+)"),
     N_("barcode %(barcode)s already belongs to SKU %(sku)s")),
    (re.compile(r"a bundle needs at least one component"),
     N_("a bundle needs at least one component")),
    (re.compile(r"a component cannot itself have components"),
     N_("a component cannot itself have components")),
    (re.compile(r"min_price_cents is above price_cents"),
     N_("the lowest price is above the price")),
    (re.compile(r"a barcode is listed twice"), N_("a barcode is listed twice")),
    (re.compile(r"a SKU cannot be its own component"), N_("a SKU cannot be its own component")),
    (re.compile(r"a component is listed twice"), N_("a component is listed twice")),
    (re.compile(r"component (?P<sku>.+) is not in the catalogue"),
     N_("component %(sku)s is not in the catalogue")),
    (re.compile(r"component (?P<sku>.+) is a bundle; bundles do not nest"),
     N_("component %(sku)s is a bundle; bundles do not nest")),
]  # fmt: skip


#: The import report's sentences (pydantic's ``msg`` of a row, cloud/catalogue/import_export.py
#: check_rows, and the catalogue's refusals above), by their English text.
REPORT = [
    (re.compile(r"Field required"), N_("is required")),
    (re.compile(r"String should have at least 1 character"), N_("may not be empty")),
    (re.compile(r"String should have at most (?P<max_length>\d+) characters?"),
     N_("is too long (at most %(max_length)s characters)")),
    (re.compile(r"String should match pattern .*"),
     N_("has characters that are not allowed, or the wrong format")),
    (re.compile(r"Input should be a valid integer.*"), N_("must be a whole number")),
    (re.compile(r"Input should be greater than or equal to (?P<ge>\S+)"),
     N_("must be at least %(ge)s")),
    (re.compile(r"Input should be less than or equal to (?P<le>\S+)"),
     N_("must be at most %(le)s")),
    (re.compile(r"Input should be '.*"), N_("is not one of the choices")),
    (re.compile(r"List should have at least (?P<min_length>\d+) items? after validation.*"),
     N_("needs at least %(min_length)s")),
    (re.compile(r"(?P<sku>.+) appears twice in the file"),
     N_("%(sku)s appears twice in the file")),
    (re.compile(r"barcode (?P<barcode>.+) is also on (?P<sku>.+) in this file"),
     N_("barcode %(barcode)s is also on %(sku)s in this file")),
    (re.compile(r"unknown column\(s\): (?P<columns>.+)"), N_("unknown column(s): %(columns)s")),
    *DOMAIN,
]  # fmt: skip


def _say(request: Request, message: str, values: dict[str, Any] | None = None) -> str:
    text = i18n.translations(locale_of(request)).gettext(message)
    return text % values if values else text


def _translated(request: Request, sentence: str, known: list[tuple[re.Pattern[str], str]]) -> str:
    """An English sentence of the catalogue in the page's language (as is when unknown)."""
    for pattern, message in known:
        m = pattern.fullmatch(sentence)
        if m:
            return _say(request, message, m.groupdict())
    return sentence


def _domain_sentence(request: Request, err: DomainError) -> str:
    """A refusal of the catalogue in the page's language: by its English sentence when the
    page words it its own way (DOMAIN), else by its message id."""
    sentence = str(err)
    for pattern, message in DOMAIN:
        m = pattern.fullmatch(sentence)
        if m:
            return _say(request, message, m.groupdict())
    return err.translated(refusals.gettext_of(request))


def _read_back(message: str) -> re.Pattern[str]:
    """The English a message id says, as a pattern naming its parameters."""
    out, seen, at = [], set(), 0
    for m in re.finditer(r"%\((\w+)\)s", message):
        out.append(re.escape(message[at : m.start()]))
        name = m.group(1)
        out.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        at = m.end()
    out.append(re.escape(message[at:]))
    return re.compile("".join(out), re.S)


#: Why a whole file was refused or a job failed (cloud/catalogue/jobs.py, import_export.py
#: ``parse_csv``/``parse_xlsx``): ``job.message`` keeps the English the API answers; the
#: page reads it back as its sentence and says it in the page's language.
JOB_MESSAGES = [
    (_read_back(m), m)
    for m in (
        jobs.STOPPED,
        jobs.FAILED,
        jobs.BAD_ROWS,
        *import_export.FILE_REFUSALS,
    )
]


def _job(request: Request, job: jobs.ImportJobOut) -> dict[str, Any]:
    """A job as its fragment shows it: the bad rows' sentences and why it ended in the
    page's language."""
    rows = [(e.row, e.field or "", _translated(request, e.message, REPORT)) for e in job.errors]
    said = _translated(request, job.message, JOB_MESSAGES) if job.message else None
    return {"job": job, "rows": rows, "said": said}


# --- the list ----------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def sku_list(
    request: Request,
    user: CataloguePage,
    session: SessionDep,
    q: Keywords = None,
    page: Annotated[int, Query(ge=0, le=10_000)] = 0,
    deleted: Annotated[str | None, Query(max_length=120)] = None,
) -> Response:
    return _list_page(request, user, session, q, page, deleted=deleted)


#: The "new SKU" form as it first shows: an item, nothing typed.
EMPTY: dict[str, str] = {"kind": "item"}


def _list_page(
    request: Request,
    user: WebUser,
    session: Session,
    q: str | None,
    page: int,
    *,
    form: dict[str, str] | None = None,
    errors: list[tuple[str | None, str]] | None = None,
    status: int = 200,
    deleted: str | None = None,
) -> Response:
    rows = catalogue.sku_rows(session, user.who.account_id, q, PAGE + 1, page * PAGE)
    return render(
        request,
        "skus.html",
        {
            "rows": rows[:PAGE],
            "more": len(rows) > PAGE,
            "page": page,
            "q": q or "",
            "kinds": KINDS,
            "labels": LABELS,
            "form": form or EMPTY,
            "errors": errors or [],
            "deleted": deleted,
        },
        user=user,
        status=status,
    )


@router.post("", include_in_schema=False)
async def create_sku(request: Request, user: CatalogueAction, session: SessionDep) -> Response:
    """The "new SKU" form: checked as ``PUT /skus/{code}`` checks a SKU (``SkuIn``, a
    barcode another SKU has is refused), and a code the catalogue has already refused too
    (cloud/catalogue/skus.py ``create_sku``). A refusal shows the list with the form open,
    what was typed and why, in the page's language (422 or 409); nothing is stored."""
    raw = await request.form()
    form = {k: str(v) for k, v in raw.items() if isinstance(v, str)}
    code = form.get("sku_code", "").strip()
    form["sku_code"] = code
    data, bad = _body(form, code)
    errors: list[tuple[str | None, str]] = [(f, _say(request, m)) for f, m in bad]
    status = 422
    try:
        item = SkuIn.model_validate(data)
    except ValidationError as err:
        errors += _validation(request, err)
    else:
        if not errors:
            try:
                catalogue.create_sku(
                    session, item, datetime.now(UTC), user.who.account_id, user.who.actor
                )
            except (InvalidError, ConflictError) as err:
                session.rollback()  # nothing of a refused SKU stays
                status = err.status
                errors.append((_field_of(err), _domain_sentence(request, err)))
            else:
                return RedirectResponse(f"{router.prefix}/{quote(code)}?saved=1", status_code=303)
    return _list_page(request, user, session, None, 0, form=form, errors=errors, status=status)


def _field_of(err: DomainError) -> str:
    """The form's field a refusal of the catalogue is about."""
    if isinstance(err, InvalidError) and err.field:
        return err.field
    return "sku_code" if err.msgid == catalogue.ALREADY else "barcodes"


@router.get("/export.{fmt}", include_in_schema=False)
async def export(
    request: Request, fmt: Literal["csv", "xlsx"], user: CataloguePage, q: Keywords = None
) -> Response:
    """The catalogue (as the list's keywords narrow it) in the import's columns (a file that imports back), as the API's
    ``GET /api/v1/skus/export`` writes each row (cloud/catalogue/import_export.py
    ``export_row``), through the dashboard's export helper (cloud/web/export.py: one export
    of a user at a time, formula-like cells written as text)."""
    account = user.who.account_id

    def pages(s: Session, limit: int, offset: int) -> list[list[Any]]:
        skus = catalogue.list_skus(s, limit, offset, account, q)
        return [import_export.export_row(i) for i in skus]

    return await exports.send(request, user.who.user_id, "skus", fmt, import_export.COLUMNS, pages)


# --- import (declared before /{code}: "imports" is a path here, not a SKU) -----------------


@router.get("/imports", response_class=HTMLResponse, include_in_schema=False)
def import_form(request: Request, user: CatalogueWritePage) -> Response:
    return render(
        request,
        "sku_import.html",
        {
            "columns": import_export.COLUMNS,
            "max_mb": MAX_IMPORT_BYTES // (1024 * 1024),
            "max_bytes": MAX_IMPORT_BYTES,
            "too_large": _too_large(request),
        },
        user=user,
    )


@router.post("/imports", include_in_schema=False)
async def start_import(request: Request, user: CatalogueAction, units: UnitsDep) -> Response:
    """The uploaded file as an import job (the API's ``POST /skus/imports``), then its page.

    The body was bounded before it was read (cloud/api/limits.py: a file over the limit is
    refused with a page saying so, and no job exists); the file part is checked again here."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise PageError(422, _say(request, N_("Choose a CSV or Excel (.xlsx) file to import.")))
    if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
        raise PageError(413, _too_large(request))
    fmt = import_kind(upload.content_type or "", upload.filename)
    data = await upload.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise PageError(413, _too_large(request))
    job = await submit_import(request, units, user.who, fmt, data)
    return RedirectResponse(f"{IMPORT_PATH}/{job.id}", status_code=303)


def _too_large(request: Request) -> str:
    return _say(
        request,
        N_("The file is larger than %(mb)s MB: nothing was imported. Split it into smaller files."),
        {"mb": MAX_IMPORT_BYTES // (1024 * 1024)},
    )


@router.get("/imports/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def import_job(
    request: Request, job_id: JobId, user: CatalogueWritePage, session: SessionDep
) -> Response:
    job = jobs.get_job(session, user.who.account_id, job_id)
    return render(request, "sku_import_job.html", _job(request, job), user=user)


@router.get("/imports/{job_id}/status", response_class=HTMLResponse, include_in_schema=False)
def import_job_status(
    request: Request, job_id: JobId, user: CatalogueWritePage, session: SessionDep
) -> Response:
    """The job's progress as a fragment, polled by htmx until the job has ended."""
    job = jobs.get_job(session, user.who.account_id, job_id)
    return render(request, "_import_job.html", _job(request, job), user=user)


# --- one SKU -----------------------------------------------------------------------------


@router.get("/{code}", response_class=HTMLResponse, include_in_schema=False)
def sku_page(
    request: Request,
    code: str,
    user: CataloguePage,
    session: SessionDep,
    saved: bool = False,
) -> Response:
    sku = catalogue.get_sku(session, user.who.account_id, code)
    return _sku_page(request, user, session, sku, _form_of(sku), [], saved=saved)


def _sku_page(
    request: Request,
    user: WebUser,
    session: Session,
    sku: SkuIn,
    form: dict[str, str],
    errors: list[tuple[str | None, str]],
    *,
    status: int = 200,
    saved: bool = False,
    deleting: bool = False,
) -> Response:
    changed_at, changed_by = catalogue.last_change(session, user.who.account_id, sku.sku_code)
    drawn = [(b, barcodes.draw(b)) for b in sku.barcodes]
    return render(
        request,
        "sku.html",
        {
            "sku": sku,
            "price": money(sku.price_cents),
            "min_price": money(sku.min_price_cents),
            "drawn": drawn,
            "form": form,
            "errors": errors,
            "labels": LABELS,
            "kinds": KINDS,
            "changed_at": changed_at,
            "changed_by": changed_by,
            "version": str(changed_at),
            "saved": saved,
            "deleting": deleting,
        },
        user=user,
        status=status,
    )


def _form_of(sku: SkuIn) -> dict[str, str]:
    """The edit form's values for a SKU as stored."""
    form = {f: str(getattr(sku, f) or "") for f in (*TEXT_FIELDS, *NUMBER_FIELDS)}
    for f in PRICE_FIELDS:
        form[f] = money(getattr(sku, f))
    form["kind"] = sku.kind
    form["own_brand"] = "1" if sku.own_brand else ""
    form["serial_tracked"] = "1" if sku.serial_tracked else ""
    form["barcodes"] = "\n".join(sku.barcodes)
    form["components"] = "\n".join(f"{c.sku_code}*{c.qty}" for c in sku.components)
    return form


def _cents(text: str) -> int:
    """Yuan as typed (``12.5``) to cents, exactly (money is Decimal, never float)."""
    value = Decimal(text)
    cents = value * 100
    if not value.is_finite() or cents != cents.to_integral_value():
        raise InvalidOperation
    return int(cents)


def _body(form: dict[str, str], code: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The form as the body of ``PUT /skus/{code}`` (``SkuIn``'s fields), and the prices
    that are not amounts (field, message id)."""
    data: dict[str, Any] = {"sku_code": code, "kind": form.get("kind") or "item"}
    bad: list[tuple[str, str]] = []
    for f in (*TEXT_FIELDS, *NUMBER_FIELDS):
        if form.get(f, "").strip():
            data[f] = form[f].strip()
    for f in PRICE_FIELDS:
        text = form.get(f, "").strip()
        if text:
            try:
                data[f] = _cents(text)
            except InvalidOperation:
                bad.append((f, N_("must be an amount in yuan, at most two decimals")))
    data["own_brand"] = bool(form.get("own_brand"))
    data["serial_tracked"] = bool(form.get("serial_tracked"))
    data["barcodes"] = [b.strip() for b in form.get("barcodes", "").splitlines() if b.strip()]
    comps = []
    for line in form.get("components", "").splitlines():
        if line.strip():
            part, star, qty = line.strip().rpartition("*")
            comps.append(
                {"sku_code": part.strip(), "qty": qty.strip()}
                if star
                else {"sku_code": line.strip(), "qty": 1}
            )
    data["components"] = comps
    return data, bad


def _validation(request: Request, err: ValidationError) -> list[tuple[str | None, str]]:
    out: list[tuple[str | None, str]] = []
    gettext = refusals.gettext_of(request)
    for e in err.errors():
        field = str(e["loc"][0]) if e["loc"] else None
        out.append((field, refusals.sentence(gettext, e)))
    return out


@router.post("/{code}", include_in_schema=False)
async def save_sku(
    request: Request, code: str, user: CatalogueAction, session: SessionDep
) -> Response:
    """Save the form as ``PUT /skus/{code}`` does. A refusal shows the form again with what
    was typed and why, in the page's language (422 for the input, 409 for a conflict), and
    changes nothing (the transaction is rolled back)."""
    raw = await request.form()
    form = {k: str(v) for k, v in raw.items() if isinstance(v, str)}
    stored = catalogue.get_sku(session, user.who.account_id, code)  # 404 if not the account's
    changed_at, changed_by = catalogue.last_change(session, user.who.account_id, code)
    errors: list[tuple[str | None, str]] = []
    status = 422
    if form.get("version") != str(changed_at):
        status = 409
        errors.append(
            (
                None,
                _say(
                    request,
                    N_("%(who)s changed this SKU at %(when)s, after you opened it: check it"
                       " and save again."),
                    {"who": changed_by, "when": when(changed_at)},
                ),
            )
        )  # fmt: skip
        return _sku_page(request, user, session, stored, form, errors, status=status)
    data, bad = _body(form, code)
    errors += [(f, _say(request, m)) for f, m in bad]
    try:
        item = SkuIn.model_validate(data)
    except ValidationError as err:
        errors += _validation(request, err)
    else:
        if not errors:
            try:
                catalogue.upsert_sku(
                    session, item, datetime.now(UTC), user.who.account_id, user.who.actor
                )
            except (InvalidError, ConflictError) as err:
                session.rollback()  # nothing of a refused save stays
                status = err.status
                field = err.field if isinstance(err, InvalidError) else "barcodes"
                errors.append((field, _domain_sentence(request, err)))
            else:
                return RedirectResponse(f"{router.prefix}/{quote(code)}?saved=1", status_code=303)
    return _sku_page(request, user, session, stored, form, errors, status=status)


@router.post("/{code}/delete", include_in_schema=False)
async def delete_sku(
    request: Request, code: str, user: CatalogueAction, session: SessionDep
) -> Response:
    """Delete a SKU nothing refers to yet (cloud/catalogue/removal.py says why a SKU with
    history stays). Refused, changing nothing, with the SKU's page saying why in the page's
    language: not confirmed (422), changed by someone since the page was shown or named by
    any history (409)."""
    form = await request.form()
    stored = catalogue.get_sku(session, user.who.account_id, code)  # 404 if not the account's
    changed_at, changed_by = catalogue.last_change(session, user.who.account_id, code)
    why: tuple[int, str] | None = None
    if not form.get("confirm"):
        why = 422, _say(request, N_("Tick the box to confirm the deletion."))
    elif form.get("version") != str(changed_at):
        why = 409, _say(
            request,
            N_("%(who)s changed this SKU at %(when)s, after you opened it: check it"
               " and delete it again."),
            {"who": changed_by, "when": when(changed_at)},
        )  # fmt: skip
    else:
        try:
            removal.delete_sku(session, user.who.account_id, code, datetime.now(UTC))
        except ConflictError as err:
            session.rollback()
            why = err.status, _domain_sentence(request, err)
        else:
            return RedirectResponse(f"{router.prefix}?deleted={quote(code)}", status_code=303)
    status, text = why
    return _sku_page(
        request, user, session, stored, _form_of(stored), [(None, text)],
        status=status, deleting=True,
    )  # fmt: skip
