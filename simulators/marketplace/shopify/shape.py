"""A trade of the marketplace world (market.py) as Shopify's Admin REST API shows an order.

The world keeps Taobao's statuses; Shopify says the same with other fields (Admin REST
"Order" resource): ``financial_status`` (pending, paid, voided), ``fulfillment_status``,
``cancelled_at`` and ``closed_at`` (a fulfilled order is archived, as shops' default
"automatically archive" setting does). ``status=open`` — the default of ``orders.json`` —
therefore hides shipped and cancelled orders.

Fulfilment (Admin REST "Order": the order's ``fulfillment_status`` is null, ``partial`` or
``fulfilled`` (``restocked`` is not simulated); each line item's ``fulfillment_status`` the
same for its own units and ``fulfillable_quantity`` the units still to send): a line's
units sent so far are the world's ``shopify_fulfilled`` on the line, written by a
fulfillment and taken back by its cancel (shopify/admin.py, fulfilments.py); a shipped
trade has sent every unit. GraphQL (``displayFulfillmentStatus`` UNFULFILLED /
PARTIALLY_FULFILLED / FULFILLED) is not served by this simulator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

#: What each world status looks like in Shopify: financial, fulfillment, cancelled, closed.
STATES: dict[str, tuple[str, str | None, bool, bool]] = {
    "WAIT_BUYER_PAY": ("pending", None, False, False),
    "WAIT_SELLER_SEND_GOODS": ("paid", None, False, False),
    "WAIT_BUYER_CONFIRM_GOODS": ("paid", "fulfilled", False, True),
    # Taobao's 拆单发货 of a trade (market._ship_part): some lines shipped.
    "SELLER_CONSIGNED_PART": ("paid", "partial", False, False),
    "TRADE_CLOSED_BY_TAOBAO": ("voided", None, True, True),
}


def iso(epoch: float) -> str:
    """Shopify's times: ISO 8601 with the shop's offset, whole seconds (UTC here)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def plain(amount: Any) -> str:
    return f"{Decimal(str(amount).replace(',', '')):.2f}"


def sent_units(trade: dict[str, Any], line: dict[str, Any]) -> int:
    """The units of ``line`` fulfilled: all of a shipped trade's (or a shipped line's), else
    what Shopify fulfillments sent of it (``shopify_fulfilled``, at most the line's units)."""
    num = int(line["num"])
    if trade["status"] == "WAIT_BUYER_CONFIRM_GOODS" or line.get("status") in (
        "WAIT_BUYER_CONFIRM_GOODS",
        "TRADE_FINISHED",
    ):
        return num
    return max(0, min(num, int(line.get("shopify_fulfilled") or 0)))


def fulfillment_status(sent: int, num: int) -> str | None:
    """Admin REST "Order" ``fulfillment_status`` of a line item (or, over all of them, of the
    order): null when nothing is sent, ``partial`` when some but not all units are, and
    ``fulfilled`` when all are."""
    if sent <= 0:
        return None
    return "fulfilled" if sent >= num else "partial"


def refunds_done(market: Any) -> dict[int, dict[str, Any]]:
    """Per refund of the world that ended ``SUCCESS`` (simulators/marketplace/refunds.py): that
    version, with ``_modified``. Only these exist on Shopify: a refund there is money given
    back, never a request (a buyer's request to return is another resource)."""
    desk = market.parts.get("refunds")
    out: dict[int, dict[str, Any]] = {}
    for rid, versions in (desk.versions if desk is not None else {}).items():
        done = next((v for v in versions if v.refund["status"] == "SUCCESS"), None)
        if done is not None:
            out[rid] = {**done.refund, "_modified": done.modified}
    return out


def refunds_json(trade: dict[str, Any], done: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The order's ``refunds[]`` at this version (Admin REST "Refund"): one per refunded line
    here, with its ``refund_line_items`` (``restock_type`` ``cancel`` for a line refunded
    before it was fulfilled, ``return`` after) and the refund ``transactions``."""
    out = []
    for ln in trade["orders"]["order"]:
        r = done.get(ln.get("refund_id") or -1)
        if ln.get("refund_status") != "SUCCESS" or r is None:
            continue
        at, amount = iso(r["_modified"]), plain(r["refund_fee"])
        out.append(
            {
                "id": r["refund_id"],
                "order_id": trade["tid"],
                "created_at": at,
                "processed_at": at,
                "note": r.get("reason") or None,
                "refund_line_items": [
                    {
                        "id": r["refund_id"] + 11,
                        "line_item_id": ln["oid"],
                        "quantity": ln["num"],
                        "restock_type": "cancel" if r["refund_phase"] == "onsale" else "return",
                        "subtotal": amount,
                        "total_tax": "0.00",
                    }
                ],
                "transactions": [
                    {
                        "id": r["refund_id"] + 13,
                        "order_id": trade["tid"],
                        "kind": "refund",
                        "status": "success",
                        "amount": amount,
                        "currency": "CNY",
                    }
                ],
            }
        )
    return out


def order_json(
    trade: dict[str, Any],
    modified: int,
    created: int,
    done: dict[int, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The order as ``orders/{id}.json`` answers it (the fields this simulator keeps);
    ``done``: :func:`refunds_done`, for its ``refunds``."""
    financial, _, cancelled, closed = STATES.get(trade["status"], ("pending", None, False, False))
    sent = [(ln, sent_units(trade, ln)) for ln in trade["orders"]["order"]]
    lines = [
        {
            "id": ln["oid"],
            "variant_id": int(ln["sku_id"]),
            "product_id": ln["num_iid"],
            "sku": ln["outer_sku_id"],
            "title": ln["title"],
            "quantity": ln["num"],
            "price": plain(ln["price"]),
            # What is left to send: nothing of a cancelled order.
            "fulfillable_quantity": 0 if cancelled else int(ln["num"]) - units,
            "fulfillment_status": fulfillment_status(units, int(ln["num"])),
        }
        for ln, units in sent
    ]
    # The order's: partial once some units of any line are sent, fulfilled when all are.
    fulfillment = fulfillment_status(
        sum(units for _, units in sent), sum(int(ln["num"]) for ln, _ in sent)
    )
    address = {
        "name": trade["receiver_name"],
        "address1": " ".join(x for x in (trade["receiver_town"], trade["receiver_address"]) if x),
        "address2": trade["receiver_district"],
        "city": trade["receiver_city"],
        "province": trade["receiver_state"],
        "country": "China",
        "country_code": "CN",
        "phone": trade["receiver_mobile"],
    }
    return {
        "id": trade["tid"],
        "admin_graphql_api_id": f"gid://shopify/Order/{trade['tid']}",
        "name": f"#{trade['tid'] % 1_000_000}",
        "created_at": iso(created),
        "updated_at": iso(modified),
        "processed_at": iso(created),
        "cancelled_at": iso(modified) if cancelled else None,
        "cancel_reason": "customer" if cancelled else None,
        "closed_at": iso(modified) if closed else None,
        "financial_status": financial,
        "fulfillment_status": fulfillment,
        "currency": "CNY",
        # The money as Admin REST "Order" has it: total_price = total_line_items_price -
        # total_discounts + the shipping + total_tax (prices here exclude no tax).
        "total_price": plain(trade["payment"]),
        "total_line_items_price": plain(
            sum(
                (Decimal(plain(ln["price"])) * ln["num"] for ln in trade["orders"]["order"]),
                Decimal(0),
            )
        ),
        "total_discounts": plain(trade.get("discount_fee") or 0),
        "total_tax": "0.00",
        "total_shipping_price_set": {
            "shop_money": {"amount": plain(trade["post_fee"]), "currency_code": "CNY"},
            "presentment_money": {"amount": plain(trade["post_fee"]), "currency_code": "CNY"},
        },
        "shipping_lines": [
            {
                "id": trade["tid"] + 29,
                "title": "Standard",
                "code": "Standard",
                "price": plain(trade["post_fee"]),
            }
        ]
        if Decimal(plain(trade["post_fee"])) > 0
        else [],
        "note": trade["buyer_message"],
        "tags": trade["seller_memo"],
        # Shopify has no invoice fields: a storefront asks with cart attributes, which the
        # order carries as note_attributes (name/value pairs).
        "note_attributes": [
            {"name": name, "value": trade[key]}
            for name, key in (("invoice_title", "invoice_name"), ("tax_id", "payer_register_no"))
            if trade.get(key)
        ],
        "customer": {"first_name": trade["buyer_nick"], "last_name": ""},
        "shipping_address": address,
        "line_items": lines,
        "refunds": refunds_json(trade, done or {}),
    }


def status_matches(order: dict[str, Any], status: str) -> bool:
    """``orders.json?status=``: open (the default), closed, cancelled, any."""
    if status == "any":
        return True
    if status == "open":
        return order["closed_at"] is None and order["cancelled_at"] is None
    if status == "closed":
        return order["closed_at"] is not None
    return order["cancelled_at"] is not None  # cancelled
