"""Shopify's webhooks into the hub: verified, de-duplicated, and used only as a hint.

Rules (shopify.dev "Verify webhooks", "Webhook best practices"; shared/research/channels.md):
- the signature is ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the *raw* body keyed
  with the app's secret, compared in constant time. The address names the shop's code, which
  is unique per seller only, so each shop of that code is tried (in constant time, all of
  them): the secret that verifies the body says which shop sent it. A bad signature is 401,
  counted (``channel_webhook_rejection``), and nothing else is stored;
- a replay window: ``X-Shopify-Triggered-At`` older than ``REPLAY_WINDOW`` (Shopify retries
  for about 4 hours; we allow 48) or more than 5 minutes ahead is refused and counted. Event
  ids are kept as long as the window, so a replay inside it is caught as a duplicate and one
  outside it as stale;
- de-duplicated by ``X-Shopify-Event-Id`` in the database: one row per (shop, event id),
  inserted with ON CONFLICT DO NOTHING, so two hub processes receiving the same event at
  once keep one. Shopify sends events twice, out of order or never;
- the body is a hint: it names the order, which is then read whole from the API
  (:func:`pull_hinted`) and stored through the intake with its ``modified`` guard. Trusting
  the body would let a late retry of an old event (its original payload) overwrite a newer
  version that shares its second; dropped events are caught by the scheduled download.
- ``refunds/create`` is the exception: its body is the Refund (Admin REST "Refund": ``id``,
  ``order_id``, ``created_at``, ``refund_line_items[]``, ``transactions[]``), made once and
  never changed afterwards, so no later version can be overwritten by it. It is read as the
  refunds stream reads an order's ``refunds[]`` (cloud/channels/shopify/refunds.py) and fed,
  in the transaction that stores the event, to the same refund path
  (cloud/channels/refunds.py ``store_refunds``): one row per refund id, so the webhook, its
  retries and the stream's later read of the same refund reach the order once. A body that
  cannot be read is kept as the event, ``failed`` with the reason (the stream still reads
  the refund from the order).
- ``fulfillment_orders/moved`` (Admin REST "Webhook", event topics; the
  ``FulfillmentOrdersMove`` payload: ``original_fulfillment_order``,
  ``moved_fulfillment_order``, ``destination_location_id``,
  ``fulfillment_order_line_items_requested``, ``source_location``, ids as ``gid://shopify/…``
  or numbers) is a hint as the order topics are: it names the moved fulfillment order, not
  its order, so :func:`pull_hinted` asks Shopify whose it is (``GET
  fulfillment_orders/{id}.json``: ``order_id``) and reads that order again with its
  fulfillment orders. A move made in the Shopify admin leaves the order's ``updated_at`` as
  it was, so without the hint it was seen only at the order's next change. What the move
  does to our order is changes.py's ``relocate`` (a person decides: sold_at.py).

Pulled orders are stored through ``changes.store`` (the intake, then the changes: a cancel,
a refund, an address, a moved fulfillment order reach the Guanjia order), as a download
stores them: a version stored here is not read again by the download, so a change it
carries must be acted on here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from cloud.channels import shops
from cloud.channels.changes import store
from cloud.channels.download import DEFAULT_TUNING, Tuning
from cloud.channels.ids import digits
from cloud.channels.intake import Unusable
from cloud.channels.ports import ChannelError, ChannelRefund, ChannelTrade, OrderSource, Refused
from cloud.channels.shopify.orders import ShopifyOrders
from cloud.channels.shopify.refunds import refunds_of
from cloud.db.engine import dialect_of, transaction
from cloud.db.models import ChannelShop
from cloud.db.shopify import ChannelWebhookCount, ChannelWebhookEvent, ChannelWebhookRejection

REPLAY_WINDOW = timedelta(hours=48)
AHEAD = timedelta(minutes=5)
#: Topics that name an order; others are acknowledged and ignored.
ORDER_TOPICS = frozenset(
    {"orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled"}
)
#: A refund made on the shop: fed to the refund path from its body (the module's note).
REFUND_TOPIC = "refunds/create"
#: A fulfillment order moved to another location: a hint naming the fulfillment order.
MOVED_TOPIC = "fulfillment_orders/moved"
#: How a hint names a fulfillment order (its order is asked of Shopify when pulled).
FO_HINT = "fo:"


class WebhookRejected(Exception):
    """Refused (HTTP 401): the reason is counted, nothing else is stored. ``shop``:
    (account id, shop id) when the signature and the domain are that shop's."""

    def __init__(self, reason: str, shop: tuple[int, int] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.shop = reason, shop


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(name) or headers.get(name.lower()) or ""


def receive(
    session: Session, shop_code: str, headers: Mapping[str, str], body: bytes, now: datetime
) -> str:
    """``"accepted"``, ``"duplicate"`` or ``"ignored"`` (a topic we do not act on); raises
    :class:`WebhookRejected`. The caller commits; on a rejection it counts (:func:`count`)."""
    given = _header(headers, "X-Shopify-Hmac-Sha256").encode()
    candidates = session.execute(
        select(ChannelShop).where(ChannelShop.code == shop_code, ChannelShop.platform == "shopify")
    ).scalars()
    shop = None
    for candidate in candidates:
        # Every candidate is compared (no early exit), each comparison in constant time.
        if hmac.compare_digest(signature(candidate.app_secret, body).encode(), given):
            shop = candidate
    if shop is None:
        raise WebhookRejected("bad_signature")
    domain = _header(headers, "X-Shopify-Shop-Domain")
    if shop.app_key and domain != shop.app_key:
        # Not this shop's: an app's secret is the app's, shared by every shop that installed
        # it, so the shop is the secret *and* the domain. Counted for the hub only.
        raise WebhookRejected("wrong_shop")
    mine = (shop.account_id, shop.id)
    try:
        triggered = datetime.fromisoformat(
            _header(headers, "X-Shopify-Triggered-At").replace("Z", "+00:00")
        )
        if triggered.tzinfo is None:
            raise ValueError
    except ValueError:
        raise WebhookRejected("no_time", mine) from None
    if not now - REPLAY_WINDOW <= triggered <= now + AHEAD:
        raise WebhookRejected("stale", mine)
    event_id = _header(headers, "X-Shopify-Event-Id")[:64]
    topic = _header(headers, "X-Shopify-Topic")[:64]
    if not event_id:
        raise WebhookRejected("no_event_id", mine)
    external_id = ""
    state = "ignored"
    if topic in ORDER_TOPICS:
        try:
            found = orjson.loads(body)
            oid = found.get("id") if isinstance(found, dict) else None
        except orjson.JSONDecodeError:
            oid = None
        if isinstance(oid, int) and not isinstance(oid, bool) and oid > 0:
            external_id, state = str(oid), "pending"
    refunds: list[ChannelRefund] = []
    error: str | None = None
    if topic == MOVED_TOPIC:
        fo_id = moved_fulfillment_order(body)
        if fo_id is None:
            state, error = "failed", "fulfillment_orders/moved: no moved_fulfillment_order id"
        else:
            external_id, state = f"{FO_HINT}{fo_id}", "pending"
    if topic == REFUND_TOPIC:
        try:
            refunds, external_id = _refunds(body)
            state = "pulled"
        except Refused as err:
            state, error = "failed", f"refunds/create: {err}"[:2000]
    row = {
        "account_id": shop.account_id,
        "shop_id": shop.id,
        "event_id": event_id,
        "topic": topic,
        "external_id": external_id,
        "triggered_at": triggered,
        "received_at": now,
        "state": state,
        "pulled_at": now if topic == REFUND_TOPIC else None,
        "error": error,
    }
    dialect = postgresql if dialect_of(session) == "postgresql" else sqlite
    made = session.execute(
        dialect.insert(ChannelWebhookEvent)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["shop_id", "event_id"])
        .returning(ChannelWebhookEvent.id)
    ).first()
    if made is None:  # the event id was there already
        _tally(session, mine, "duplicate", now)
        return "duplicate"
    if topic == REFUND_TOPIC:
        if error is not None:
            return "unusable"
        # Imported here: the refund path sits above the adapters' modules.
        from cloud.channels.refunds import store_refunds

        store_refunds(session, shop, refunds, now)
        return "refunded"
    if error is not None:
        return "unusable"
    return "accepted" if state == "pending" else "ignored"


def moved_fulfillment_order(body: bytes) -> str | None:
    """The id of the fulfillment order a ``fulfillment_orders/moved`` body names (its
    ``moved_fulfillment_order``, else its ``original_fulfillment_order``): a global id
    ``gid://shopify/FulfillmentOrder/123`` or a number; None when there is none."""
    try:
        found = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(found, dict):
        return None
    for key in ("moved_fulfillment_order", "original_fulfillment_order"):
        fo = found.get(key)
        raw = fo.get("id") if isinstance(fo, dict) else None
        if isinstance(raw, str) and raw.startswith("gid://shopify/FulfillmentOrder/"):
            raw = raw.rsplit("/", 1)[1]
        if (got := digits(raw)) is not None:
            return got
    return None


def _refunds(body: bytes) -> tuple[list[ChannelRefund], str]:
    """The Refund of a ``refunds/create`` body as the refunds stream reads it from its order
    (one :class:`ChannelRefund` per refunded line), and its order's id; :class:`Refused`
    saying what is wrong with it."""
    try:
        refund = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused("the body is not JSON") from None
    if not isinstance(refund, dict):
        raise Refused("the body is not a refund object")
    oid = refund.get("order_id")
    if isinstance(oid, bool) or not isinstance(oid, int) or oid <= 0:
        raise Refused(f"order_id is not an order's id: {str(oid)[:40]!r}")
    if not refund.get("refund_line_items"):
        raise Refused("the refund has no refund_line_items")
    try:
        found = refunds_of({"id": oid, "refunds": [refund]})
    except Unusable as err:
        raise Refused(str(err)) from None
    return found, str(oid)


def count(
    session: Session,
    reason: str,
    path: str,
    now: datetime,
    *,
    shop: tuple[int, int] | None = None,
) -> None:
    """One more refusal for ``reason`` (a row per reason: a flood adds no rows), and for the
    shop's page when it was the shop's own (``shop``: account id, shop id; its secret and its
    domain). One that no secret verified, or signed for another domain, is nobody's: the
    address names a code, which several sellers' shops may share, and a seller's rows are
    written only by what is its own (the fuzz's tenancy check)."""
    if shop is not None:
        _tally(session, shop, reason, now)
    dialect = postgresql if dialect_of(session) == "postgresql" else sqlite
    ins = dialect.insert(ChannelWebhookRejection).values(
        reason=reason, count=1, last_at=now, last_path=path[:120]
    )
    session.execute(
        ins.on_conflict_do_update(
            index_elements=["reason"],
            set_={
                "count": ChannelWebhookRejection.count + 1,
                "last_at": now,
                "last_path": path[:120],
            },
        )
    )


def _tally(session: Session, shop: tuple[int, int], outcome: str, now: datetime) -> None:
    dialect = postgresql if dialect_of(session) == "postgresql" else sqlite
    ins = dialect.insert(ChannelWebhookCount).values(
        account_id=shop[0], shop_id=shop[1], outcome=outcome, count=1, last_at=now
    )
    session.execute(
        ins.on_conflict_do_update(
            index_elements=["shop_id", "outcome"],
            set_={"count": ChannelWebhookCount.count + 1, "last_at": now},
        )
    )


def counts_of_shop(session: Session, shop_id: int) -> list[tuple[str, int, datetime]]:
    """The shop's refused webhooks per reason and its duplicates: (outcome, count, last)."""
    return [
        (r.outcome, r.count, r.last_at)
        for r in session.execute(
            select(ChannelWebhookCount)
            .where(ChannelWebhookCount.shop_id == shop_id)
            .order_by(ChannelWebhookCount.outcome)
        ).scalars()
    ]


def rejections(session: Session) -> dict[str, int]:
    return {r.reason: r.count for r in session.execute(select(ChannelWebhookRejection)).scalars()}


def pull_hinted(
    factory: sessionmaker[Session],
    shop_id: int,
    source: OrderSource,
    *,
    owner: str,
    now: Callable[[], datetime],
    tuning: Tuning = DEFAULT_TUNING,
    limit: int = 200,
) -> int:
    """Read the orders the shop's pending webhooks name, whole, from the API, and store them
    through the intake (under the shop's lease, as a download: never two writers of one shop).
    Returns how many orders were read; 0 when the shop is busy or parked."""
    with factory() as s:  # nothing named: no lease, no write
        if not s.execute(
            select(ChannelWebhookEvent.id)
            .where(ChannelWebhookEvent.shop_id == shop_id, ChannelWebhookEvent.state == "pending")
            .limit(1)
        ).first():
            return 0
    at = now()
    with transaction(factory) as s:
        shop = s.get(ChannelShop, shop_id)
        if shop is None or shop.status == "needs_reauth":
            return 0
        s.expunge(shop)
        if not shops.take_lease(s, shop_id, owner, at, tuning.lease):
            return 0
        rows = s.execute(
            select(ChannelWebhookEvent.id, ChannelWebhookEvent.external_id)
            .where(ChannelWebhookEvent.shop_id == shop_id, ChannelWebhookEvent.state == "pending")
            .order_by(ChannelWebhookEvent.id)
            .limit(limit)
        ).all()
        # Event ids outlive the replay window by nothing: older ones can no longer arrive.
        s.execute(
            delete(ChannelWebhookEvent).where(
                ChannelWebhookEvent.shop_id == shop_id,
                ChannelWebhookEvent.state != "pending",
                ChannelWebhookEvent.received_at < at - REPLAY_WINDOW - AHEAD,
            )
        )
    try:
        read_at = now()
        trades: list[ChannelTrade] = []
        failed: dict[str, str] = {}
        #: The order each hint names: itself, or a moved fulfillment order's (asked of Shopify).
        order_of: dict[str, str] = {}
        for ext in sorted({ext for _, ext in rows}):
            if not ext.startswith(FO_HINT):
                order_of[ext] = ext
            elif not isinstance(source, ShopifyOrders):
                failed[ext] = "a fulfillment order hint for a shop that is not Shopify's"
            else:
                try:
                    order_of[ext] = source.order_of_fulfillment_order(ext.removeprefix(FO_HINT))
                except Refused as err:
                    failed[ext] = str(err)[:300]
        for oid in sorted(set(order_of.values())):
            try:
                trades.extend(source.fetch([oid]))
            except Refused as err:  # this order only (e.g. not this shop's): say why
                for ext, of in order_of.items():
                    if of == oid:
                        failed[ext] = str(err)[:300]
        done_at = now()
        with transaction(factory) as s:
            if not shops.keep_lease(s, shop_id, owner, done_at, tuning.lease):
                return 0  # another process holds the shop now; the hints stay pending
            shop_row = s.get(ChannelShop, shop_id)
            assert shop_row is not None
            store(s, shop_row, trades, done_at, read_at, guard=tuning.guard)
            ids = [i for i, ext in rows if ext not in failed]
            if ids:
                s.execute(
                    update(ChannelWebhookEvent)
                    .where(ChannelWebhookEvent.id.in_(ids))
                    .values(state="pulled", pulled_at=done_at)
                    .execution_options(synchronize_session=False)
                )
            for i, ext in rows:
                if ext in failed:
                    s.execute(
                        update(ChannelWebhookEvent)
                        .where(ChannelWebhookEvent.id == i)
                        .values(state="failed", pulled_at=done_at, error=failed[ext])
                        .execution_options(synchronize_session=False)
                    )
        return len(trades)
    except ChannelError:
        return 0  # call limits, the platform's errors, auth: the hints wait for the next tick
    finally:
        with transaction(factory) as s:
            shops.drop_lease(s, shop_id, owner)


def due_shops(session: Session) -> list[int]:
    """Shops with pending hints."""
    return list(
        session.execute(
            select(ChannelWebhookEvent.shop_id)
            .where(ChannelWebhookEvent.state == "pending")
            .distinct()
        ).scalars()
    )
