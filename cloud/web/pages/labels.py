"""An order's shipping label as a PNG (``/web/orders/{no}/label.png``, orders:read), drawn
as the pack station prints it (cloud/orders/label.py); the order page shows it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.api.deps import SessionDep
from cloud.orders import label, waybill_outbox
from cloud.orders import views as order_views
from cloud.web import i18n
from cloud.web.deps import OrdersPage
from cloud.web.render import locale_of
from cloud.web.session import PREFIX, PageError

router = APIRouter(prefix=PREFIX + "/orders")


@router.get("/{order_no}/label.png", include_in_schema=False)
def label_png(request: Request, order_no: str, user: OrdersPage, session: SessionDep) -> Response:
    # The account's own order or 404, as the order page (the same domain read).
    order = order_views.detail(session, user.who.account_id, order_no)
    why = label.why_no_label(order)
    if why is not None:
        raise PageError(404, i18n.translations(locale_of(request)).gettext(why))
    order["waybill_route"] = waybill_outbox.route_of_order(session, user.who.account_id, order_no)
    return Response(
        label.label_png(order), media_type="image/png", headers={"Cache-Control": "no-store"}
    )
