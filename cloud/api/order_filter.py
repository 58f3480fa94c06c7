"""The order list's query parameters as one dependency: GET /api/v1/orders, the dashboard's
order list and its CSV/XLSX export take the same names, the same limits and the same errors
(a bad date or a reversed range: 422), and hand the domain one ``OrderFilter``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, StringConstraints

from cloud.errors import N_, InvalidValue
from cloud.orders.core import Channel, Status
from cloud.orders.views import OrderFilter


def _blank(v: Any) -> Any:
    """An empty field of a GET form (``?status=&channel=``) means "any", not a bad value."""
    return None if v == "" else v


Blank = BeforeValidator(_blank)
#: The limit sits on the string (a ``Query(max_length=…)`` would be applied to the None too).
Short = Annotated[str, StringConstraints(max_length=64)]
Text = Annotated[Short | None, Blank, Query()]
Day = Annotated[date | None, Blank, Query(description="YYYY-MM-DD, the seller's day (China time)")]


async def order_filter(
    status: Annotated[Status | None, Blank, Query()] = None,
    on_hold: Annotated[bool | None, Blank, Query()] = None,
    q: Annotated[
        Short | None,
        Blank,
        Query(
            description="keywords separated by spaces, each matching part of the order "
            "number, buyer nick or tracking number, or the recipient's phone (whole or last 4 "
            "digits); every keyword must match",
        ),
    ] = None,
    channel: Annotated[Channel | None, Blank, Query()] = None,
    shop: Text = None,
    carrier: Text = None,
    warehouse: Text = None,
    arrived_from: Day = None,
    arrived_to: Day = None,
    shipped_from: Day = None,
    shipped_to: Day = None,
) -> OrderFilter:
    for lo, hi in (("arrived_from", arrived_to), ("shipped_from", shipped_to)):
        start = arrived_from if lo == "arrived_from" else shipped_from
        if start is not None and hi is not None and start > hi:
            end = lo.replace("_from", "_to")
            why = InvalidValue(
                N_("%(end)s (%(hi)s) is before %(lo)s (%(start)s)"),
                end=end,
                hi=str(hi),
                lo=lo,
                start=str(start),
            )
            # ``ctx`` as pydantic's own value errors carry it: the pages translate the
            # sentence (cloud/web/refusals.py); the API's answer leaves ctx out (cloud/app.py).
            raise RequestValidationError(
                [
                    {
                        "loc": ("query", end),
                        "msg": str(why),
                        "type": "value_error",
                        "ctx": {"error": why},
                    }
                ]
            )
    return OrderFilter(
        status=status,
        on_hold=on_hold,
        q=q,
        channel=channel,
        shop=shop,
        carrier=carrier,
        warehouse=warehouse,
        arrived_from=arrived_from,
        arrived_to=arrived_to,
        shipped_from=shipped_from,
        shipped_to=shipped_to,
    )


#: ``order_filter`` is async although it awaits nothing: FastAPI runs a plain ``def``
#: dependency on the thread pool, a hop there and back for every order list and search
#: (40% of ``guanjia bench cloud``'s mix), queued behind the handlers for a pool thread and
#: for the GIL (issue 20; cloud/api/deps.py says the same of the session).
OrderFilterDep = Annotated[OrderFilter, Depends(order_filter)]
