"""/channels/webhooks: marketplaces' pushes into the hub, without a user's token — each is
verified by the marketplace's own signature instead (docs/channels.md, "The Shopify shape").

``POST /api/v1/channels/webhooks/shopify/{shop_code}``: 200 when accepted (or a duplicate,
or a topic we ignore: Shopify must stop sending it; ``refunded`` for a ``refunds/create``
fed to the refund path, ``unusable`` for one whose signed body cannot be read, kept failed), 401 when the signature, the shop or the
time is wrong (counted per reason, and per shop for its page; nothing else stored). Every
answer is counted in ``/metrics`` (``guanjia_channel_webhooks_total`` by platform, outcome
and refusal reason). The webhook is a hint: the hub's scheduler
reads the order it names from the API, woken at once in this process.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from cloud import metrics
from cloud.api.channels import wake_scheduler
from cloud.api.deps import UnitsDep
from cloud.channels.shopify import webhooks

router = APIRouter(prefix="/api/v1/channels/webhooks", tags=["channels"])
log = logging.getLogger("guanjia.cloud.channels")
#: The hub's body checks (cloud/api/hostile.py) leave these alone: the body is the
#: marketplace's, verified by its signature over the raw bytes, and only its id is read.
PREFIX = "/api/v1/channels/webhooks/"


@router.post("/shopify/{shop_code}", responses={401: {"description": "not verified"}})
async def shopify_webhook(
    shop_code: Annotated[str, Path(min_length=1, max_length=64)],
    request: Request,
    units: UnitsDep,
) -> JSONResponse:
    body = await request.body()
    headers = dict(request.headers)
    now = datetime.now(UTC)
    try:
        outcome = await units.write(lambda s: webhooks.receive(s, shop_code, headers, body, now))
    except webhooks.WebhookRejected as err:
        path, reason, shop = request.url.path, err.reason, err.shop
        await units.write(lambda s: webhooks.count(s, reason, path, now, shop=shop))
        metrics.WEBHOOKS.labels("shopify", "refused", reason).inc()
        log.warning("channels: a Shopify webhook for %r refused: %s", shop_code, reason)
        return JSONResponse(
            {"detail": "the webhook could not be verified", "reason": reason},
            status_code=401,
        )
    metrics.WEBHOOKS.labels("shopify", outcome, "").inc()
    if outcome == "accepted":
        wake_scheduler(request)  # committed: this process's scheduler pulls the order now
    return JSONResponse({"outcome": outcome})
