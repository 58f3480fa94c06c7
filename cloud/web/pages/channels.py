"""Channels: the marketplace shops, their download runs, "download now" and the failed
shipment confirmations, as the API's /channels (cloud/api/channels.py, docs/channels.md).

The list and a shop's page call the domain functions the API calls (``shops.shops_overview``,
``schedule.runs``, ``schedule.request_download``, ``shipments.retry``), with its scopes:
reading needs channels:read, "download now" and a retry channels:write. While a run is queued
or running, the shop's page asks for its runs again every 2 s (htmx) until none is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from cloud.api.channels import subscribe_first, subscribe_new, wake_scheduler
from cloud.api.deps import SessionDep, UnitsDep
from cloud.channels import (
    remap,
    runner,
    schedule,
    shipments,
    shops,
    stock_locations,
    stock_policy,
    views,
)
from cloud.channels.shopify import webhooks
from cloud.errors import N_, ConflictError, DomainError, InvalidError
from cloud.orders import audit_rules
from cloud.orders.audit_rules import CHINA
from cloud.web import refusals
from cloud.web.deps import ChannelsAction, ChannelsPage
from cloud.web.render import render
from cloud.web.session import PREFIX, WebUser

router = APIRouter(prefix=PREFIX + "/channels")

ShopCode = Annotated[str, Path(min_length=1, max_length=64)]
#: A scheduled shop whose watermark is older than this many intervals (plus the download's
#: 2 min safety lag and 10 min overlap, docs/channels.md rule 1) has missed runs: alarmed.
LATE_INTERVALS = 2
LAG_SLACK_S = 12 * 60


def _aware(t: datetime | None) -> datetime | None:
    # SQLite gives naive datetimes back; every time stored is UTC (cloud/db/models.py).
    return None if t is None or t.tzinfo is not None else t.replace(tzinfo=UTC)


def _overview(
    session: Session, account_id: int, now: datetime, code: str | None = None
) -> list[dict[str, Any]]:
    going = schedule.going(session, account_id)
    out = []
    for row in shops.shops_overview(session, account_id):
        if code is not None and row["code"] != code:
            continue
        mark = row["watermark"]
        lag = None if mark is None else int((now - (_aware(mark) or mark)).total_seconds())
        late = (
            row["schedule_enabled"]
            and lag is not None
            and lag > LATE_INTERVALS * row["interval_s"] + LAG_SLACK_S
        )
        last = row["last_run"]
        out.append(
            {
                **row,
                "lag_s": lag,
                "late": late,
                "going": going.get(row["code"]),
                "alarm": row["status"] == "needs_reauth"
                or late
                or (last is not None and last["outcome"] in ("failed", "needs_reauth")),
            }
        )
    return out


@router.get("", response_class=HTMLResponse, include_in_schema=False)
def shop_list(request: Request, user: ChannelsPage, session: SessionDep) -> Response:
    return _list_page(request, session, user)


def _list_page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    posted: dict[str, str] | None = None,
    error: tuple[str, str] | None = None,
    status: int = 200,
) -> Response:
    rows = _overview(session, user.who.account_id, datetime.now(UTC))
    return render(
        request,
        "channels.html",
        {
            "shops": rows,
            "platforms": shops.PLATFORMS,
            "sign_methods": shops.SIGN_METHODS,
            # A refused "add a shop": what was typed (never the secret or the key) and the
            # sentence beside its field.
            "posted": posted or {},
            "error_field": error[0] if error else None,
            "error": error[1] if error else None,
        },
        user=user,
        status=status,
    )


def _start_from(text: str) -> datetime:
    """The form's ``datetime-local`` is the seller's wall clock: China time, as every time on
    these pages is shown (cloud/web/render.py ``when``)."""
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=CHINA)
    except ValueError:
        raise InvalidError(
            N_("%(field)s takes a date and time, not “%(text)s”"),
            "start_from",
            field=shops.label("start_from"),
            text=text[:30],
        ) from None


def _choice(form: Any, name: str, allowed: tuple[str, ...]) -> str:
    text = str(form.get(name, ""))
    if text not in allowed:
        raise InvalidError(
            N_("%(field)s must be one of %(allowed)s"),
            name,
            field=shops.label(name),
            allowed=", ".join(allowed),
        )
    return text


@router.post("", include_in_schema=False)
async def add_shop(request: Request, user: ChannelsAction, units: UnitsDep) -> Response:
    """As ``POST /api/v1/channels/shops``: a new shop, its schedule on, its first download
    due at once. A field the marketplace could not have given is a 422, a code the seller has
    already a 409: the form again with the sentence beside the field and what was typed
    (the secret and the key typed again); nothing is written then."""
    form = await request.form()
    posted = {
        k: str(form.get(k, ""))[:300]
        for k in ("code", "platform", "api_url", "app_key", "sign_method", "start_from")
    }
    posted["interval_min"] = str(form.get("interval_min", ""))[:10]
    account_id = user.who.account_id
    try:
        body = shops.ShopIn(
            # What was typed, whole: ``posted`` is cut for showing it again, and a cut value
            # would pass the length checks (a 5,000-character address saved as its first 300).
            code=str(form.get("code", "")),
            api_url=str(form.get("api_url", "")).strip(),
            app_key=str(form.get("app_key", "")).strip(),
            app_secret=str(form.get("app_secret", "")).strip(),
            session_key=str(form.get("session_key", "")).strip(),
            start_from=_start_from(str(form.get("start_from", ""))),
            platform=_choice(form, "platform", shops.PLATFORMS),
            sign_method=_choice(form, "sign_method", shops.SIGN_METHODS),
        )
        minutes = _whole(form, "interval_min", 1, 1440)
        await subscribe_new(request, units, account_id, body)

        def write(s: Session) -> int:
            shop = shops.add_shop(s, account_id, body, datetime.now(UTC))
            schedule.set_schedule(s, account_id, body.code, interval_s=minutes * 60, enabled=True)
            return shop.id

        await units.write(write)
    except DomainError as err:
        field = getattr(err, "field", None) or "code"
        said = err.translated(refusals.gettext_of(request))
        status = 409 if isinstance(err, ConflictError) else 422
        return await units.read(
            lambda s: _list_page(
                request, s, user, posted=posted, error=(field, said), status=status
            )
        )
    wake_scheduler(request)
    return RedirectResponse(
        f"{PREFIX}/channels/{quote(body.code, safe='')}?added=1", status_code=303
    )


def _runs_context(session: Session, user: WebUser, code: str) -> dict[str, Any]:
    runs = [r for _, r in schedule.runs(session, user.who.account_id, code, 20)]
    return {
        "code": code,
        "runs": runs,
        "active": any(r.outcome in ("queued", "running") for r in runs),
    }


@router.get("/{code}", response_class=HTMLResponse, include_in_schema=False)
def shop_page(
    request: Request, code: ShopCode, user: ChannelsPage, session: SessionDep
) -> Response:
    row = shops.shop_by_code(session, user.who.account_id, code)  # 404: another seller's
    (shop,) = _overview(session, user.who.account_id, datetime.now(UTC), code)
    failed = shipments.failed_of_shop(session, user.who.account_id, code)
    # A Shopify shop's refused and repeated webhooks (docs/channels.md, rule 7).
    hooks = webhooks.counts_of_shop(session, row.id) if row.platform == "shopify" else None
    return render(
        request,
        "channel_shop.html",
        {
            "shop": shop,
            "failed": failed,
            "webhook_counts": hooks,
            **_later_context(session, user.who.account_id, code),
            **_runs_context(session, user, code),
        },
        user=user,
    )


#: How many rows of each later-life table the shop's page shows (the API pages further).
SHOWN = 20


def _later_context(session: Session, account_id: int, code: str) -> dict[str, Any]:
    """The shop's later life, as /api/v1/channels gives it: the stock push (policy and the
    first SKUs), refunds, the changes that reached our orders, the SKU mapping, the diff."""
    shop = shops.shop_by_code(session, account_id, code)
    return {
        "policy": stock_policy.policy_of(session, account_id, code),
        "stock": stock_policy.items(session, account_id, code, limit=SHOWN, offset=0),
        "refunds": views.refunds(session, shop.id, SHOWN),
        "changes": views.changes(session, account_id, shop=code, limit=SHOWN),
        "sku_maps": views.sku_maps(session, shop.id),
        "diff": views.last_diff(session, shop.id),
        # A Shopify shop's locations: which of our warehouses each is (stock_locations.py).
        "locations": (
            stock_locations.listed(session, account_id, code)
            if shop.platform == "shopify"
            else None
        ),
        "warehouses": stock_locations.warehouse_codes(session, account_id),
        "couriers": shipments.couriers_of(session, account_id, code),
        "carriers": [c.code for c in audit_rules.list_carriers(session, account_id)],
    }


def _whole(form: Any, name: str, lo: int, hi: int) -> int:
    text = str(form.get(name, "")).strip()
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise InvalidError(
            N_("%(field)s takes a whole number from %(lo)s to %(hi)s, not “%(text)s”"),
            name,
            field=shops.label(name),
            lo=lo,
            hi=hi,
            text=text[:20],
        )
    return int(text)


@router.post("/{code}/schedule", include_in_schema=False)
async def save_schedule(
    request: Request, code: ShopCode, user: ChannelsAction, units: UnitsDep
) -> Response:
    """As ``PUT /api/v1/channels/shops/{code}/schedule``: on/off and the interval in minutes
    (1 to 1,440); a bad figure is a 422 with its sentence and nothing changes."""
    form = await request.form()
    enabled = form.get("enabled") == "on"
    minutes = _whole(form, "interval_min", 1, 1440)
    account_id = user.who.account_id
    await units.write(
        lambda s: (
            schedule.set_schedule(s, account_id, code, interval_s=minutes * 60, enabled=enabled).id
        )
    )
    return RedirectResponse(
        f"{PREFIX}/channels/{quote(code, safe='')}?scheduled=1", status_code=303
    )


@router.post("/{code}/couriers", include_in_schema=False)
async def map_courier(
    request: Request, code: ShopCode, user: ChannelsAction, units: UnitsDep
) -> Response:
    """As ``PUT /api/v1/channels/shops/{code}/couriers/{carrier}``: our courier as the
    marketplace names it, which each shipment confirmation sends (an empty or overlong code,
    or a courier the seller does not have, is a 422; nothing changes)."""
    form = await request.form()
    carrier = str(form.get("carrier", "")).strip()
    company = str(form.get("company_code", "")).strip()
    if len(company) > 64:
        raise InvalidError(
            N_("the marketplace's courier code is at most 64 characters"), "company_code"
        )
    account_id = user.who.account_id

    def write(s: Session) -> str:
        shops.shop_by_code(s, account_id, code)  # 404 for another seller's shop first
        if carrier not in {c.code for c in audit_rules.list_carriers(s, account_id)}:
            raise InvalidError(N_("no courier %(carrier)s"), "carrier", carrier=carrier[:64])
        return shipments.map_courier(s, account_id, code, carrier, company).carrier

    await units.write(write)
    return RedirectResponse(
        f"{PREFIX}/channels/{quote(code, safe='')}?couriers=1#couriers", status_code=303
    )


@router.post("/{code}/stock-policy", include_in_schema=False)
async def save_stock_policy(
    request: Request, code: ShopCode, user: ChannelsAction, units: UnitsDep
) -> Response:
    """As ``PUT /api/v1/channels/shops/{code}/stock-policy``: on/off, safety stock, share;
    every SKU then owes the shop a push. A bad figure is a 422 with its sentence, and
    nothing changes."""
    form = await request.form()
    enabled = form.get("enabled") == "on"
    safety = _whole(form, "safety_stock", 0, 1_000_000)
    share = _whole(form, "share_pct", 0, 100)
    account_id = user.who.account_id
    await units.write(
        lambda s: (
            stock_policy.set_policy(
                s,
                account_id,
                code,
                enabled=enabled,
                safety_stock=safety,
                share_pct=share,
                now=datetime.now(UTC),
            ).shop_id
        )
    )
    return RedirectResponse(f"{PREFIX}/channels/{quote(code, safe='')}?policy=1", status_code=303)


@router.post("/{code}/locations", include_in_schema=False)
async def map_location(
    request: Request, code: ShopCode, user: ChannelsAction, units: UnitsDep
) -> Response:
    """As ``PUT /api/v1/channels/shops/{code}/locations/{warehouse}``: the location id is
    checked against the shop's locations read from Shopify now (an unknown one, or a
    warehouse the seller does not have, is a 422 with its sentence; nothing changes)."""
    form = await request.form()
    warehouse = str(form.get("warehouse", "")).strip()[:64]
    location = str(form.get("location_id", "")).strip()
    if not location.isdigit() or len(location) > 20:
        raise InvalidError(
            N_("a Shopify location id is digits, not “%(text)s”"), "location_id", text=location[:20]
        )
    body = stock_locations.LocationIn(location_id=location)
    account_id, actor = user.who.account_id, user.who.actor
    # Read the shop's locations from Shopify with no transaction open, then write in a short
    # one that checks again what may have changed (cloud/channels/stock_locations.py).
    shop = await units.read(lambda s: stock_locations.shop_to_read(s, account_id, code, warehouse))
    seen = await anyio.to_thread.run_sync(stock_locations.read, shop, runner.locations_of)
    await units.write(
        lambda s: (
            stock_locations.set_location(
                s, account_id, code, warehouse, body, seen, actor, datetime.now(UTC)
            ).shop_id
        )
    )
    return RedirectResponse(
        f"{PREFIX}/channels/{quote(code, safe='')}?located=1#locations", status_code=303
    )


@router.post("/{code}/locations/{warehouse}/remove", include_in_schema=False)
async def unmap_location(
    code: ShopCode,
    warehouse: Annotated[str, Path(min_length=1, max_length=64)],
    user: ChannelsAction,
    units: UnitsDep,
) -> Response:
    """As ``DELETE …/locations/{warehouse}``: that warehouse is no longer pushed (404 when
    it was not mapped)."""
    account_id = user.who.account_id
    await units.write(lambda s: stock_locations.remove_location(s, account_id, code, warehouse))
    return RedirectResponse(
        f"{PREFIX}/channels/{quote(code, safe='')}?located=1#locations", status_code=303
    )


@router.post("/{code}/skus", include_in_schema=False)
async def map_sku(
    request: Request, code: ShopCode, user: ChannelsAction, units: UnitsDep
) -> Response:
    """As ``PUT /api/v1/channels/shops/{code}/skus/{outer_sku_id}``: the shop's code mapped
    to our SKU, and the trades held for it tried again at once (the domain refuses an empty
    or overlong code and a SKU not in the catalogue, 422)."""
    form = await request.form()
    outer = str(form.get("outer_sku_id", "")).strip()
    sku = str(form.get("sku_code", "")).strip()
    account_id, actor = user.who.account_id, user.who.actor

    def write(s: Session) -> int:
        shop = shops.shop_by_code(s, account_id, code)
        return remap.map_sku(s, shop, outer, sku, actor, datetime.now(UTC)).imported

    imported = await units.write(write)
    return RedirectResponse(
        f"{PREFIX}/channels/{quote(code, safe='')}?mapped={imported}", status_code=303
    )


@router.get("/{code}/runs", response_class=HTMLResponse, include_in_schema=False)
def shop_runs(
    request: Request, code: ShopCode, user: ChannelsPage, session: SessionDep
) -> Response:
    """The runs table alone: what htmx swaps in while a run is queued or running."""
    shops.shop_by_code(session, user.who.account_id, code)
    return render(request, "_channel_runs.html", _runs_context(session, user, code), user=user)


@router.post("/{code}/download", include_in_schema=False)
async def download_now(
    request: Request, code: ShopCode, user: ChannelsAction, units: UnitsDep
) -> Response:
    """As ``POST /api/v1/channels/shops/{code}/download``: queue a run (409 with the API's
    sentence while one is queued or running, or the shop needs re-authorisation)."""
    account_id = user.who.account_id
    await units.write(
        lambda s: schedule.request_download(s, account_id, code, datetime.now(UTC)).id
    )
    wake_scheduler(request)
    return RedirectResponse(f"{PREFIX}/channels/{quote(code, safe='')}?queued=1", status_code=303)


@router.post("/{code}/authorisation", include_in_schema=False)
async def reauthorise(
    request: Request, code: ShopCode, user: ChannelsAction, units: UnitsDep
) -> Response:
    """As ``PUT /api/v1/channels/shops/{code}/authorisation``: the new session key (access
    token) is saved and the parked shop runs again; a bad key is a 422 with its sentence and
    nothing changes."""
    form = await request.form()
    key = str(form.get("session_key", ""))
    account_id = user.who.account_id

    await subscribe_first(request, units, account_id, code, key)

    def write(s: Session) -> int:
        shop = shops.shop_by_code(s, account_id, code)
        shops.reauthorise(s, shop, key, datetime.now(UTC))
        return shop.id

    await units.write(write)
    wake_scheduler(request)
    return RedirectResponse(
        f"{PREFIX}/channels/{quote(code, safe='')}?reauthorised=1", status_code=303
    )


@router.post("/shipments/{shipment_id}/retry", include_in_schema=False)
def retry_shipment(
    shipment_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: ChannelsAction,
    session: SessionDep,
) -> Response:
    """As ``POST /api/v1/channels/shipments/{id}/retry``: a failed confirmation is sent again."""
    row = shipments.retry(session, user.who.account_id, shipment_id, datetime.now(UTC))
    code = shops.shop_code_of(session, row.shop_id)
    return RedirectResponse(f"{PREFIX}/channels/{quote(code, safe='')}?retried=1", status_code=303)
