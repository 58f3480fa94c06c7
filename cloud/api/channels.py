"""/channels: marketplace shops, their download runs and schedules, "download now", courier codes
and the shipment confirmations of an order (docs/channels.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from cloud.api.deps import ChannelsRead, ChannelsWrite, SessionDep, Units, UnitsDep
from cloud.channels import runner, schedule, shipments, shops
from cloud.db.models import ChannelRun, ChannelShipment

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])

ShopCode = Annotated[str, Path(min_length=1, max_length=64)]


class RunOut(BaseModel):
    id: int
    shop: str
    #: "download" (from the watermark), "rescan" (the last day again).
    kind: str
    #: "queued", "running", "ok", "failed", "needs_reauth", "busy".
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    reached: datetime | None
    pages: int
    calls: int
    orders_new: int
    orders_changed: int
    orders_held: int
    error: str | None


def _run(code: str, r: ChannelRun) -> RunOut:
    return RunOut(
        id=r.id,
        shop=code,
        kind=r.kind or "download",
        outcome=r.outcome,
        started_at=r.started_at,
        finished_at=r.finished_at,
        window_start=r.window_start,
        window_end=r.window_end,
        reached=r.reached,
        pages=r.pages or 0,
        calls=r.calls or 0,
        orders_new=r.orders_new or 0,
        orders_changed=r.orders_changed or 0,
        orders_held=r.orders_held or 0,
        error=r.error,
    )


class ShopOut(BaseModel):
    code: str
    platform: str
    #: "active", or "needs_reauth" (the seller must authorise the app again).
    status: str
    status_reason: str | None
    watermark: datetime | None
    schedule_enabled: bool
    interval_s: int
    next_run_at: datetime | None
    last_run: dict[str, Any] | None


class ShopAddIn(BaseModel):
    """A shop to download from. Taobao: ``app_key`` and ``app_secret`` are the app's, the
    ``session_key`` the seller's authorisation; Shopify: ``app_key`` is the shop's myshopify
    domain, ``session_key`` its access token, ``app_secret`` the app's (it signs the
    webhooks). The secret and key are never given back by any route."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=shops.CODE_MAX)
    platform: Literal["taobao", "shopify"] = "taobao"
    api_url: str = Field(min_length=1, max_length=shops.URL_MAX)
    app_key: str = Field(min_length=1, max_length=shops.APP_KEY_MAX)
    app_secret: str = Field(min_length=1, max_length=shops.SECRET_MAX)
    session_key: str = Field(min_length=1, max_length=shops.KEY_MAX)
    #: Where the first download starts (with its zone).
    start_from: AwareDatetime
    sign_method: Literal["md5", "hmac", "hmac-sha256"] = "hmac-sha256"
    interval_s: int = Field(default=300, ge=60, le=86_400)
    schedule_enabled: bool = True


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval_s: int | None = Field(default=None, ge=60, le=86_400)
    enabled: bool | None = None


class AuthorisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The new Taobao session key, or Shopify access token, the seller's authorisation gave.
    session_key: str = Field(min_length=1, max_length=shops.KEY_MAX)


class CourierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: The courier's code on the marketplace (Taobao's ``company_code``).
    company_code: str = Field(min_length=1, max_length=64)


class ShipmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    external_id: str
    tracking_number: str | None
    carrier: str | None
    #: "pending", "done", "failed" (``error`` says why).
    state: str
    attempts: int
    next_try_at: datetime
    error: str | None
    created_at: datetime
    done_at: datetime | None


@router.get("/shops")
def list_shops(session: SessionDep, who: ChannelsRead) -> list[ShopOut]:
    return [ShopOut(**row) for row in shops.shops_overview(session, who.account_id)]


@router.post("/shops", status_code=status.HTTP_201_CREATED)
async def add_shop(
    body: ShopAddIn, request: Request, units: UnitsDep, who: ChannelsWrite
) -> ShopOut:
    """Add a shop: its first download is due at once, from ``start_from``. 409 when the
    seller has a shop of that code; 422 naming a field the marketplace could not have given."""

    await subscribe_new(request, units, who.account_id, shop_in(body))

    def write(s: Session) -> ShopOut:
        shops.add_shop(s, who.account_id, shop_in(body), datetime.now(UTC))
        schedule.set_schedule(
            s, who.account_id, body.code, interval_s=body.interval_s, enabled=body.schedule_enabled
        )
        s.flush()
        (row,) = [r for r in shops.shops_overview(s, who.account_id) if r["code"] == body.code]
        return ShopOut(**row)

    out = await units.write(write)
    wake_scheduler(request)
    return out


def wake_scheduler(request: Request) -> None:
    """Something due was committed (a queued run, a new key, a new shop, a webhook's hint):
    this process's channel scheduler looks now, not at its next poll. Others find it then."""
    worker = getattr(request.app.state, "channels", None)
    if worker is not None:
        worker.wake()


def shop_in(body: ShopAddIn) -> shops.ShopIn:
    return shops.ShopIn(
        code=body.code,
        api_url=body.api_url,
        app_key=body.app_key,
        app_secret=body.app_secret,
        session_key=body.session_key,
        start_from=body.start_from,
        platform=body.platform,
        sign_method=body.sign_method,
    )


@router.get("/shops/{code}/couriers")
def list_couriers(code: ShopCode, session: SessionDep, who: ChannelsRead) -> list[dict[str, str]]:
    """Our couriers as the shop's marketplace names them (set with ``PUT …/couriers/{carrier}``)."""
    return [
        {"shop": code, "carrier": r.carrier, "company_code": r.company_code}
        for r in shipments.couriers_of(session, who.account_id, code)
    ]


@router.put("/shops/{code}/schedule")
def set_schedule(
    code: ShopCode, body: ScheduleIn, session: SessionDep, who: ChannelsWrite
) -> ShopOut:
    schedule.set_schedule(
        session, who.account_id, code, interval_s=body.interval_s, enabled=body.enabled
    )
    session.flush()
    (row,) = [r for r in shops.shops_overview(session, who.account_id) if r["code"] == code]
    return ShopOut(**row)


async def subscribe_new(
    request: Request, units: Units, account_id: int, body: shops.ShopIn
) -> None:
    """A new Shopify shop's webhooks subscribed at the hub's ``public_url`` before it is
    saved (as ``guanjia channels add-shop`` does): what the add would refuse is refused
    first, and a key Shopify refuses is a 409 with nothing saved. Nothing is done without
    ``GUANJIA_PUBLIC_URL`` or for a Taobao shop."""
    hub_url: str | None = request.app.state.settings.public_url
    if not hub_url or body.platform != "shopify":
        return
    await units.read(lambda s: shops.check_new(s, account_id, body))
    await anyio.to_thread.run_sync(runner.register_webhooks, shops.draft(body), hub_url)


async def subscribe_first(
    request: Request, units: Units, account_id: int, code: str, key: str
) -> None:
    """A Shopify shop's webhooks subscribed with its new key at the hub's ``public_url``
    (runner.register_webhooks), before the key is saved and with no transaction open: a key
    Shopify refuses is a 409 with Shopify's words, and nothing is saved. Nothing is done
    without ``GUANJIA_PUBLIC_URL`` or for a Taobao shop."""
    hub_url: str | None = request.app.state.settings.public_url
    if not hub_url:
        return
    shop = await units.read(lambda s: shops.keyed_copy(s, account_id, code, key))
    await anyio.to_thread.run_sync(runner.register_webhooks, shop, hub_url)


@router.put("/shops/{code}/authorisation")
async def reauthorise(
    code: ShopCode, body: AuthorisationIn, request: Request, units: UnitsDep, who: ChannelsWrite
) -> ShopOut:
    """Save the shop's new session key (the seller authorised the app again): a shop that
    needs re-authorisation runs again, its download due at once from where its watermark
    stopped. The key is never given back by any route."""

    await subscribe_first(request, units, who.account_id, code, body.session_key)

    def write(s: Session) -> ShopOut:
        shop = shops.shop_by_code(s, who.account_id, code)
        shops.reauthorise(s, shop, body.session_key, datetime.now(UTC))
        (row,) = [r for r in shops.shops_overview(s, who.account_id) if r["code"] == code]
        return ShopOut(**row)

    out = await units.write(write)
    wake_scheduler(request)
    return out


@router.post("/shops/{code}/download", status_code=status.HTTP_202_ACCEPTED)
async def download_now(
    code: ShopCode, request: Request, units: UnitsDep, who: ChannelsWrite
) -> RunOut:
    """Queue a download of the shop now: 202 with the queued run, which any hub process's
    scheduler carries out (follow it in ``GET /runs``). 409 while one is queued or running."""
    run = await units.write(
        lambda s: _run(code, schedule.request_download(s, who.account_id, code, datetime.now(UTC)))
    )
    wake_scheduler(request)
    return run


@router.get("/runs")
def list_runs(
    session: SessionDep,
    who: ChannelsRead,
    shop: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RunOut]:
    return [_run(c, r) for c, r in schedule.runs(session, who.account_id, shop, limit)]


@router.put("/shops/{code}/couriers/{carrier}")
def map_courier(
    code: ShopCode,
    carrier: Annotated[str, Path(min_length=1, max_length=64)],
    body: CourierIn,
    session: SessionDep,
    who: ChannelsWrite,
) -> dict[str, str]:
    row = shipments.map_courier(session, who.account_id, code, carrier, body.company_code)
    return {"shop": code, "carrier": row.carrier, "company_code": row.company_code}


@router.get("/orders/{order_no}/shipments")
def order_shipments(
    order_no: Annotated[str, Path(min_length=1, max_length=64)],
    session: SessionDep,
    who: ChannelsRead,
) -> list[ShipmentOut]:
    """The order's shipment confirmations to its marketplace, and why one failed."""
    return [_shipment(r) for r in shipments.of_order(session, who.account_id, order_no)]


@router.post("/shipments/{shipment_id}/retry")
def retry_shipment(
    shipment_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep, who: ChannelsWrite
) -> ShipmentOut:
    return _shipment(shipments.retry(session, who.account_id, shipment_id, datetime.now(UTC)))


def _shipment(r: ChannelShipment) -> ShipmentOut:
    return ShipmentOut.model_validate(r)
