"""Finance: the hub's WeChat Pay bill jobs (cloud/finance/wechat_jobs.py, wechat_admin.py) —
the list with each job's state, cursor and last error; one job with the bills it brought
in; adding one (the merchant's key files uploaded), parking, resuming and re-fetching a day.
The same domain functions and request models as /api/v1/finance/wechat-jobs
(cloud/api/wechat_bill_jobs.py). Reading needs ``finance:read``; every change
``finance:write`` and this session's CSRF token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from cloud.api import wechat_bill_jobs
from cloud.api.deps import SessionDep
from cloud.api.schemas import RefetchIn, WechatJobIn
from cloud.finance import wechat_admin, wechat_certs, wechat_jobs
from cloud.web import refusals
from cloud.web.deps import FinanceAction, FinancePage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX + "/finance/wechat-jobs")
Mchid = Annotated[str, Path(max_length=12, pattern=r"^\d{8,12}$")]
#: A key file read from the form: a PEM of a few KB (the model refuses more than 20,000).
KEY_BYTES = 20_001


def _view(j: Any, now: datetime, gettext: refusals.Gettext) -> dict[str, Any]:
    return {
        "job": j,
        "state": wechat_admin.state(j, now),
        "days": wechat_admin.days_in(j),
        "behind": wechat_admin.behind(j, now),
        "error": wechat_jobs.error_text(j.last_error, gettext),
    }


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def job_list(request: Request, user: FinancePage, session: SessionDep) -> Response:
    now, gettext = datetime.now(UTC), refusals.gettext_of(request)
    views = [_view(j, now, gettext) for j in wechat_admin.jobs(session, user.who.account_id)]
    return render(request, "wechat_jobs.html", {"jobs": views}, user=user)


async def _pem(form: Any, name: str) -> str:
    file = form.get(name)
    if isinstance(file, UploadFile):
        return (await file.read(KEY_BYTES)).decode("ascii", "replace")
    return str(file or "")


@router.post("", include_in_schema=False)
async def add(request: Request, user: FinanceAction, session: SessionDep) -> Response:
    """A job from the form, as ``POST /api/v1/finance/wechat-jobs``: validated by its
    model, the keys checked by the domain; a refusal is a page saying why, nothing stored."""
    form = await request.form()
    data = {
        k: str(form.get(k) or "").strip()
        for k in ("mchid", "serial_no", "platform_serial", "first_day", "api_url", "api_v3_key")
    }
    optional = ("platform_serial", "api_url", "api_v3_key")
    data = {k: v for k, v in data.items() if v or k not in optional}
    data["private_key"] = await _pem(form, "private_key")
    data["platform_key"] = await _pem(form, "platform_key")
    try:
        body = WechatJobIn.model_validate(data)
    except ValidationError as err:
        raise refusals.invalid(request, err) from err
    j = wechat_bill_jobs.add(session, user.who, body, request.app.state.settings)
    return RedirectResponse(f"{PREFIX}/finance/wechat-jobs/{j.mchid}?done=added", status_code=303)


@router.get("/{mchid}", response_class=HTMLResponse, include_in_schema=False)
def job_page(mchid: Mchid, request: Request, user: FinancePage, session: SessionDep) -> Response:
    now, gettext = datetime.now(UTC), refusals.gettext_of(request)
    j = wechat_admin.job(session, user.who.account_id, mchid)
    ctx = {
        **_view(j, now, gettext),
        "bills": wechat_admin.bills_of(session, user.who.account_id, mchid),
        "certificates": wechat_certs.views(session, user.who.account_id, j.id, now),
        "done": request.query_params.get("done", ""),
    }
    return render(request, "wechat_job.html", ctx, user=user)


@router.post("/{mchid}/park", include_in_schema=False)
def park(mchid: Mchid, user: FinanceAction, session: SessionDep) -> Response:
    wechat_admin.park(session, user.who.account_id, mchid, datetime.now(UTC))
    return RedirectResponse(f"{PREFIX}/finance/wechat-jobs/{mchid}?done=parked", status_code=303)


@router.post("/{mchid}/resume", include_in_schema=False)
def resume(mchid: Mchid, user: FinanceAction, session: SessionDep) -> Response:
    wechat_admin.resume(session, user.who.account_id, mchid, datetime.now(UTC))
    return RedirectResponse(f"{PREFIX}/finance/wechat-jobs/{mchid}?done=resumed", status_code=303)


@router.post("/{mchid}/refetch", include_in_schema=False)
async def refetch(
    mchid: Mchid, request: Request, user: FinanceAction, session: SessionDep
) -> Response:
    form = await request.form()
    try:
        body = RefetchIn.model_validate({"day": str(form.get("day") or "").strip()})
    except ValidationError as err:
        raise refusals.invalid(request, err) from err
    wechat_admin.refetch(session, user.who.account_id, mchid, body.day, datetime.now(UTC))
    return RedirectResponse(f"{PREFIX}/finance/wechat-jobs/{mchid}?done=refetch", status_code=303)
