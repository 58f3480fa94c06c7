"""Shopify as a shipment confirmer: the order's fulfillment orders, then one fulfillment with
the tracking number (Admin REST "FulfillmentOrder" and "Fulfillment": ``POST
fulfillments.json`` with ``line_items_by_fulfillment_order`` and ``tracking_info``). In a shop
whose warehouses are mapped to its locations, the parcel's location is where its
fulfillment order must be: one assigned elsewhere is moved there first (``move.json``).

A fulfillment whose write committed but whose answer was lost is sent again; by then its
fulfillment order is closed and Shopify answers 422. So when no fulfillment order is open (or
the POST is refused with 422) we read the order's fulfillments: one with our tracking number
means our earlier write is there (done); another number, or none, is a failure a person must
look at.

A parcel that carries some units of a fulfillment order (an order a person split: each part
ships as its own parcel) fulfils those units only (``fulfillment_order_line_items`` with the
fulfillment order line item's ``id`` and ``quantity``, Admin REST "Fulfillment", create);
the fulfillment order stays ``in_progress`` with the rest, which a later parcel sends. Its
retry cannot tell by the fulfillment order whether it was done (units are left either way),
so it reads the order's fulfillments first: our number there is done, never sent twice.
"""

from __future__ import annotations

from typing import Any

from cloud.channels.ports import Refused, Retryable
from cloud.channels.shopify.client import AdminClient

FULFILLABLE = ("open", "in_progress")


def _left(li: dict[str, Any]) -> int:
    """What a fulfillment order line item has left to fulfil: ``fulfillable_quantity``
    (Admin REST "FulfillmentOrder"), its ``quantity`` when the answer lacks it."""
    q = li.get("fulfillable_quantity")
    if q is None:
        q = li.get("quantity")
    return int(q) if isinstance(q, int) and not isinstance(q, bool) and q > 0 else 0


def items(fo: dict[str, Any]) -> dict[str, int]:
    """A fulfillment order's line item ids and the units each has left to fulfil."""
    out: dict[str, int] = {}
    for li in fo.get("line_items") or []:
        if isinstance(li, dict):
            lid = str(li.get("line_item_id"))
            out[lid] = out.get(lid, 0) + _left(li)
    return {lid: q for lid, q in out.items() if q > 0}


def units(
    open_: list[dict[str, Any]], lines: dict[str, int]
) -> list[tuple[dict[str, Any], list[dict[str, int]]]]:
    """Some units of the open fulfillment orders, for a parcel of ``lines`` (line item id ->
    units) that no fulfillment order is exactly: from each, per line item, as many units as
    it has left and the parcel still carries (``fulfillment_order_line_items``: the
    fulfillment order line item's ``id`` and ``quantity``). A parcel never sends more of a
    line than it carries, so a later parcel of the same order sends the rest."""
    left, out = dict(lines), []
    for fo in open_:
        take: list[dict[str, int]] = []
        for li in fo.get("line_items") or []:
            if not isinstance(li, dict):
                continue
            lid = str(li.get("line_item_id"))
            q = min(_left(li), left.get(lid, 0))
            if q > 0:
                take.append({"id": int(li["id"]), "quantity": q})
                left[lid] -= q
        if take:
            out.append((fo, take))
    return out


class ShopifyShipments:
    def __init__(self, client: AdminClient, *, notify_customer: bool = True) -> None:
        self.client, self.notify = client, notify_customer

    def confirm(
        self,
        external_id: str,
        tracking_number: str,
        company_code: str,
        *,
        location: str | None = None,
        lines: dict[str, int] | None = None,
    ) -> str:
        data, _ = self.client.get(f"orders/{external_id}/fulfillment_orders.json")
        fos = data.get("fulfillment_orders") if isinstance(data, dict) else None
        if not isinstance(fos, list):
            raise Refused(f"order {external_id}: fulfillment_orders is not a list")
        open_ = [fo for fo in fos if isinstance(fo, dict) and fo.get("status") in FULFILLABLE]
        #: Per fulfillment order, the units to send (None: all it has left).
        some: dict[str, list[dict[str, int]]] = {}
        if lines is not None:
            # The parcel's own units only. The fulfillment order that is exactly its lines
            # (a half of an order Shopify split: one fulfillment order each, sold_at.py) is
            # sent whole; else the units it carries, line by line (an order a person split,
            # a part shipped before), those at its own location first. Another parcel's
            # units are never fulfilled with this parcel's number.
            exact = [fo for fo in open_ if items(fo) == lines][:1]
            if exact:
                open_ = exact
            elif open_:
                # An earlier write of ours whose answer was lost took its units already;
                # sending them again would take the next parcel's. So the fulfillments are
                # read first: one with our number is done.
                if tracking_number in self._numbers(external_id):
                    return "already"
                here = sorted(open_, key=lambda fo: str(fo.get("assigned_location_id")) != location)
                picked = units(here, lines)
                open_ = [fo for fo, _ in picked]
                some = {str(fo["id"]): take for fo, take in picked}
        if not open_:
            return self._already(external_id, tracking_number, fos)
        if location is not None:
            open_ = [self._at(fo, location) for fo in open_]
        # One fulfillment leaves from one location: fulfillment orders at two locations (a
        # shop whose locations are not mapped, an order Shopify split) are fulfilled apart.
        places: dict[str, list[dict[str, Any]]] = {}
        for fo in open_:
            places.setdefault(str(fo.get("assigned_location_id")), []).append(fo)
        for group in places.values():
            body = {
                "fulfillment": {
                    "line_items_by_fulfillment_order": [
                        {"fulfillment_order_id": fo["id"]}
                        if str(fo["id"]) not in some
                        else {
                            "fulfillment_order_id": fo["id"],
                            "fulfillment_order_line_items": some[str(fo["id"])],
                        }
                        for fo in group
                    ],
                    "tracking_info": {"number": tracking_number, "company": company_code},
                    "notify_customer": self.notify,
                }
            }
            try:
                if any(str(fo["id"]) in some for fo in group):
                    made = self._post_some(body)
                else:
                    made, _ = self.client.post("fulfillments.json", body)
            except Refused as err:
                if err.sub_code != "422":
                    raise
                try:
                    return self._already(external_id, tracking_number, fos)
                except Refused as why:  # not ours: say what Shopify refused as well
                    raise Refused(f"{why}; Shopify answered: {str(err)[:300]}") from None
            got = made.get("fulfillment") if isinstance(made, dict) else None
            if not isinstance(got, dict) or got.get("status") not in ("success", "pending", "open"):
                raise Refused(f"fulfillments.json for order {external_id}: no fulfillment made")
        return "sent"

    def _post_some(self, body: dict[str, Any]) -> Any:
        """A fulfillment of some units, sent once: a write whose answer was lost (a 5xx, no
        answer) may have been stored, and sent again it would take the units of the
        order's next parcel (the fulfillment order stays open for them, so Shopify would
        not refuse it). Only a 429, refused before anything was done, is sent again here;
        anything else goes back to the outbox, whose next try reads the fulfillments
        first (:meth:`confirm`)."""
        for _ in range(self.client.attempts - 1):
            try:
                made, _ = self.client.post("fulfillments.json", body, retried=False)
                return made
            except Retryable as err:
                if err.sub_code != "429":
                    raise
                self.client.sleep(err.wait if err.wait is not None else 1.0)
        made, _ = self.client.post("fulfillments.json", body, retried=False)
        return made

    def _at(self, fo: dict[str, Any], location: str) -> dict[str, Any]:
        """The fulfillment order at the location the parcel left from: a fulfillment leaves
        from its fulfillment order's ``assigned_location_id`` (``fulfillments.json`` takes no
        location), so one Shopify assigned elsewhere is moved first (``POST
        fulfillment_orders/{id}/move.json`` ``new_location_id``; Admin REST
        "FulfillmentOrder"). Moving it again to where it is already is not done (a retry)."""
        if str(fo.get("assigned_location_id")) == location:
            return fo
        body = {"fulfillment_order": {"new_location_id": int(location)}}
        moved, _ = self.client.post(f"fulfillment_orders/{fo['id']}/move.json", body)
        got = moved.get("moved_fulfillment_order") if isinstance(moved, dict) else None
        if not isinstance(got, dict) or str(got.get("assigned_location_id")) != location:
            raise Refused(f"fulfillment order {fo['id']} was not moved to location {location}")
        return got

    def _numbers(self, external_id: str) -> list[str]:
        """The tracking numbers of the order's fulfillments on Shopify."""
        data, _ = self.client.get(f"orders/{external_id}/fulfillments.json")
        rows = data.get("fulfillments") if isinstance(data, dict) else None
        numbers: list[str] = []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                numbers.extend(str(n) for n in row.get("tracking_numbers") or [])
                if row.get("tracking_number"):
                    numbers.append(str(row["tracking_number"]))
        return numbers

    def _already(self, external_id: str, tracking_number: str, fos: list[Any]) -> str:
        numbers = self._numbers(external_id)
        if tracking_number in numbers:
            return "already"
        if numbers:
            raise Refused(
                f"order {external_id} is fulfilled on Shopify with tracking number "
                f"{numbers[0]}, not {tracking_number}"
            )
        states = ", ".join(str(fo.get("status")) for fo in fos if isinstance(fo, dict))
        raise Refused(
            f"order {external_id} has nothing left to fulfil on Shopify "
            f"(fulfillment orders: {states or 'none'}) and no fulfillment with our number"
        )
