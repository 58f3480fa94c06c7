"""Shops, their watermarks and their leases.

A lease is a row's ``lease_owner`` and ``lease_until``, taken with one conditional UPDATE: on
PostgreSQL the row lock makes a second process's UPDATE wait and then find the lease taken
(READ COMMITTED re-reads the row), on SQLite writers are serialised (BEGIN IMMEDIATE). So two
hub processes never run the same shop at once, and a process that died loses its lease when
``lease_until`` passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cloud.db.channel_stock import ChannelStockItem
from cloud.db.models import ChannelRun, ChannelShipment, ChannelShop, ChannelWatermark
from cloud.errors import N_, ConflictError, InvalidError, NotFoundError, Sentence

PLATFORMS = ("taobao", "shopify")
SIGN_METHODS = ("md5", "hmac", "hmac-sha256")


@dataclass(frozen=True)
class ShopIn:
    code: str
    api_url: str
    app_key: str
    app_secret: str
    session_key: str
    start_from: datetime
    platform: str = "taobao"
    sign_method: str = "hmac-sha256"


#: Column widths of ``channel_shop`` (cloud/db/models.py): longer is refused, never cut.
CODE_MAX, URL_MAX, APP_KEY_MAX, SECRET_MAX = 64, 300, 64, 200
#: What a refusal calls each field of "Add a shop": the form's own words (the pages say them
#: in their language, zh_CN first), not the API's names, which mean nothing inside a Chinese
#: sentence. The API's 422 still names the field itself in ``loc``.
FIELD_LABELS: dict[str, str] = {
    "code": N_("Shop code"),
    "platform": N_("Platform"),
    "api_url": N_("API address"),
    "app_key": N_("App key"),
    "app_secret": N_("App secret"),
    "session_key": N_("Session key or access token"),
    "sign_method": N_("Signature method"),
    "start_from": N_("Download orders changed since"),
    "interval_min": N_("Download every (minutes)"),
    "safety_stock": N_("Safety stock"),
    "share_pct": N_("Share"),
}


def label(field: str) -> Sentence | str:
    """A field's label as a sentence the page translates (the field's name when it has none)."""
    return Sentence(FIELD_LABELS[field]) if field in FIELD_LABELS else field


def _plain(text: str) -> bool:
    """No spaces or control characters: credentials are pasted, and a stray space or line
    break would make every signature fail later instead of now."""
    return not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text)


def _check_new(body: ShopIn) -> None:
    code = body.code
    if not code.strip() or code != code.strip() or len(code) > CODE_MAX:
        raise InvalidError(
            N_("the shop's code must be 1 to %(max)s characters, without spaces at either end"),
            "code",
            max=CODE_MAX,
        )
    if any(ord(c) < 32 or ord(c) == 127 or c in "/?#" for c in code):
        # It names the shop in every page's and route's path (/channels/{code}).
        raise InvalidError(
            N_("the shop's code may not hold control characters, “/”, “?” or “#”"), "code"
        )
    if len(body.api_url) > URL_MAX or not _plain(body.api_url):
        raise InvalidError(
            N_("%(field)s must be an http(s) URL of at most %(max)s characters"),
            "api_url",
            field=label("api_url"),
            max=URL_MAX,
        )
    for field, value, most in (
        ("app_key", body.app_key, APP_KEY_MAX),
        ("app_secret", body.app_secret, SECRET_MAX),
        ("session_key", body.session_key, KEY_MAX),
    ):
        if not value or len(value) > most or not _plain(value):
            raise InvalidError(
                N_(
                    "%(field)s must be 1 to %(max)s characters without spaces (as the marketplace gave it)"
                ),
                field,
                field=label(field),
                max=most,
            )


def add_shop(session: Session, account_id: int, body: ShopIn, now: datetime) -> ChannelShop:
    """A new shop, due for its first download at once (from ``start_from``). A field the
    marketplace could not have given (empty, too long, spaces in a key) is a 422 naming it,
    and nothing is written; a code the seller already has is a 409."""
    check_new(session, account_id, body)
    shop = ChannelShop(
        account_id=account_id,
        code=body.code,
        platform=body.platform,
        api_url=body.api_url,
        app_key=body.app_key,
        app_secret=body.app_secret,
        session_key=body.session_key,
        sign_method=body.sign_method,
        status="active",
        start_from=body.start_from,
        created_at=now,
    )
    session.add(shop)
    session.flush()
    return shop


def draft(body: ShopIn) -> ChannelShop:
    """The shop to be added, not in any session: what a call to the marketplace before the
    save needs (its platform, address, key and code; runner.register_webhooks)."""
    return ChannelShop(
        code=body.code, platform=body.platform, api_url=body.api_url, session_key=body.session_key
    )


def with_key(shop: ChannelShop, session_key: str) -> ChannelShop:
    """A detached shop with a new key, for a call made with it before the key is saved."""
    return ChannelShop(
        code=shop.code, platform=shop.platform, api_url=shop.api_url, session_key=session_key
    )


def keyed_copy(session: Session, account_id: int, code: str, session_key: str) -> ChannelShop:
    """The seller's shop ``code`` with a new key, detached (404 for none, 422 for a bad key):
    what a call made with the key before it is saved needs."""
    return with_key(shop_by_code(session, account_id, code), check_key(session_key))


def check_new(session: Session, account_id: int, body: ShopIn) -> None:
    """What :func:`add_shop` refuses (422, or 409 for a code taken), checked alone."""
    _check_new(body)
    if body.platform not in PLATFORMS:
        raise InvalidError(
            N_("no adapter for platform %(platform)r yet"), "platform", platform=body.platform
        )
    if body.sign_method not in SIGN_METHODS:
        raise InvalidError(
            N_("%(field)s must be md5, hmac or hmac-sha256"),
            "sign_method",
            field=label("sign_method"),
        )
    if not body.api_url.startswith(("http://", "https://")):
        raise InvalidError(
            N_("%(field)s must be an http(s) URL"), "api_url", field=label("api_url")
        )
    if body.start_from.tzinfo is None:
        raise InvalidError(
            N_("%(field)s needs a time zone"), "start_from", field=label("start_from")
        )
    if session.execute(
        select(ChannelShop.id).where(
            ChannelShop.account_id == account_id, ChannelShop.code == body.code
        )
    ).first():
        raise ConflictError(N_("shop %(code)s exists already"), code=body.code)


def shop_by_code(session: Session, account_id: int, code: str) -> ChannelShop:
    shop = session.execute(
        select(ChannelShop).where(ChannelShop.account_id == account_id, ChannelShop.code == code)
    ).scalar_one_or_none()
    if shop is None:
        # A code of blanks alone would read "no shop ": quoted, so the person sees what was
        # asked for (seen fuzzing the API, issue 19).
        shown = code if code.strip() else repr(code)
        raise NotFoundError(N_("no shop %(code)s"), code=shown)
    return shop


#: ``channel_shop.session_key``'s width.
KEY_MAX = 300


def park(session: Session, shop_id: int, reason: str) -> None:
    """The marketplace refused the shop's authorisation (an expired or revoked session key,
    a revoked access token): the shop needs re-authorisation. Downloads, re-scans, refund
    and diff runs, stock pushes and shipment confirmations of the shop then wait, without
    calling the marketplace, until :func:`reauthorise` (docs/channels.md, rule 8)."""
    session.execute(
        update(ChannelShop)
        .where(ChannelShop.id == shop_id)
        .values(status="needs_reauth", status_reason=reason[:2000])
        .execution_options(synchronize_session=False)
    )


def parked_shops() -> Any:
    """A subquery of the shops that wait for re-authorisation (for the outboxes' claims)."""
    return select(ChannelShop.id).where(ChannelShop.status == "needs_reauth").scalar_subquery()


def reauthorise(session: Session, shop: ChannelShop, session_key: str, now: datetime) -> None:
    """The seller authorised the app again: the new session key (or access token) is saved
    and everything the shop's parking held resumes: the schedule's download is due at once
    (it starts where the watermark stopped, so nothing of the parked time is lost), and the
    pending shipment confirmations and stock pushes of the shop are due now.

    A key that is empty, too long or holds spaces or control characters is refused (422)
    and nothing changes."""
    key = check_key(session_key)
    shop.session_key, shop.status, shop.status_reason = key, "active", None
    shop.next_run_at = now
    session.execute(
        update(ChannelShipment)
        .where(ChannelShipment.shop_id == shop.id, ChannelShipment.state == "pending")
        .values(next_try_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(ChannelStockItem)
        .where(ChannelStockItem.shop_id == shop.id, ChannelStockItem.dirty)
        .values(next_try_at=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def check_key(session_key: str) -> str:
    """The key as it is saved; 422 for one empty, too long or with spaces or control
    characters."""
    key = session_key.strip()
    if not key or len(key) > KEY_MAX or any(c.isspace() or ord(c) < 32 for c in key):
        raise InvalidError(
            N_(
                "the new session key must be 1 to %(max)s characters without spaces (as the "
                "marketplace gave it)"
            ),
            "session_key",
            max=KEY_MAX,
        )
    return key


def take_lease(session: Session, shop_id: int, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Take or extend the shop's lease; False when another owner's lease still runs."""
    done = session.execute(
        update(ChannelShop)
        .where(
            ChannelShop.id == shop_id,
            or_(
                ChannelShop.lease_owner.is_(None),
                ChannelShop.lease_owner == owner,
                ChannelShop.lease_until.is_(None),
                ChannelShop.lease_until < now,
            ),
        )
        .values(lease_owner=owner, lease_until=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def keep_lease(session: Session, shop_id: int, owner: str, now: datetime, ttl: timedelta) -> bool:
    """Extend the lease only if it is still ours and has not run out."""
    done = session.execute(
        update(ChannelShop)
        .where(
            ChannelShop.id == shop_id,
            ChannelShop.lease_owner == owner,
            ChannelShop.lease_until >= now,
        )
        .values(lease_until=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def drop_lease(session: Session, shop_id: int, owner: str) -> None:
    session.execute(
        update(ChannelShop)
        .where(ChannelShop.id == shop_id, ChannelShop.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def watermark(session: Session, shop_id: int, stream: str) -> datetime | None:
    return session.execute(
        select(ChannelWatermark.watermark).where(
            ChannelWatermark.shop_id == shop_id, ChannelWatermark.stream == stream
        )
    ).scalar_one_or_none()


def advance_watermark(
    session: Session, shop: ChannelShop, stream: str, to: datetime, now: datetime
) -> datetime:
    """Move the watermark to ``to`` if that is later; it never moves back. Returns it."""
    row = session.get(ChannelWatermark, (shop.id, stream))
    if row is None:
        session.add(
            ChannelWatermark(
                account_id=shop.account_id,
                shop_id=shop.id,
                stream=stream,
                watermark=to,
                updated_at=now,
            )
        )
        return to
    if to > row.watermark:
        row.watermark, row.updated_at = to, now
    return row.watermark


def shops_overview(session: Session, account_id: int) -> list[dict[str, Any]]:
    """Each shop with its status, watermark and last run (for the CLI and the dashboard)."""
    out = []
    for shop in session.execute(
        select(ChannelShop).where(ChannelShop.account_id == account_id).order_by(ChannelShop.code)
    ).scalars():
        last = session.execute(
            select(ChannelRun)
            .where(ChannelRun.shop_id == shop.id, ChannelRun.stream == "orders")
            .order_by(ChannelRun.started_at.desc(), ChannelRun.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        out.append(
            {
                "code": shop.code,
                "platform": shop.platform,
                "status": shop.status,
                "status_reason": shop.status_reason,
                "watermark": watermark(session, shop.id, "orders"),
                "schedule_enabled": shop.schedule_enabled,
                "interval_s": shop.interval_s,
                "next_run_at": shop.next_run_at,
                "last_run": None
                if last is None
                else {
                    "id": last.id,
                    "outcome": last.outcome,
                    "started_at": last.started_at,
                    "window_start": last.window_start,
                    "window_end": last.window_end,
                    "pages": last.pages,
                    "new": last.orders_new,
                    "changed": last.orders_changed,
                    "held": last.orders_held,
                    "error": last.error,
                },
            }
        )
    return out


def shop_code_of(session: Session, shop_id: int) -> str:
    return session.execute(select(ChannelShop.code).where(ChannelShop.id == shop_id)).scalar_one()
