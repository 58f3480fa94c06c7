"""The order list's query parameters as one dependency: GET /api/v1/orders, the dashboard's
order list and its CSV/XLSX export take the same names, the same limits and the same errors
(a bad date or a reversed range: 422), and hand the domain one ``OrderFilter``."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from cloud.errors import N_, InvalidValue
from cloud.orders.core import Channel, Status
from cloud.orders.views import OrderFilter


def _blank(v: Any) -> Any:
    """An empty field of a GET form (``?status=&channel=``) means "any", not a bad value."""
    return None if v == "" else v


Blank = BeforeValidator(_blank)
#: The limit sits on the string (a ``Query(max_length=…)`` would be applied to the None too).
Short = Annotated[str, StringConstraints(max_length=64)]
Text = Annotated[Short | None, Blank]
Day = Annotated[date | None, Blank, Field(description="YYYY-MM-DD, the seller's day (China time)")]


class OrderQuery(BaseModel):
    """The filters of the query string, validated as one model in one call.

    Declared as eleven query parameters, FastAPI validated them one by one: about 0.2 ms of
    CPU per order list or search on the shared 2-core machine (40 % of ``guanjia bench
    cloud``'s mix), against ~0.02 ms for this model (issue 20, docs/benchmarks.md). The
    names, limits and errors are the same: a bad value is a 422 whose ``loc`` is
    ``["query", name]``, as FastAPI's own."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Annotated[Status | None, Blank] = None
    on_hold: Annotated[bool | None, Blank] = None
    q: Annotated[
        Short | None,
        Blank,
        Field(
            description="keywords separated by spaces, each matching part of the order "
            "number, buyer nick or tracking number, or the recipient's phone (whole or last 4 "
            "digits); every keyword must match",
        ),
    ] = None
    channel: Annotated[Channel | None, Blank] = None
    shop: Text = None
    carrier: Text = None
    warehouse: Text = None
    arrived_from: Day = None
    arrived_to: Day = None
    shipped_from: Day = None
    shipped_to: Day = None


def _parameters() -> list[dict[str, Any]]:
    """``OrderQuery``'s fields as OpenAPI query parameters: the dependency reads the query
    string itself, so FastAPI no longer lists them (routes add these through
    ``openapi_extra``, and the API's description and its fuzzing, tests/cloud/api/
    test_schemathesis.py, keep them)."""
    schema = OrderQuery.model_json_schema()
    out = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("default", "title")}
        description = prop.pop("description", None)
        out.append(
            {"name": name, "in": "query", "required": False, "schema": prop}
            | ({"description": description} if description else {})
        )
    return out


#: For the routes that take ``OrderFilterDep`` and appear in the API's description.
OPENAPI: Final = {"parameters": _parameters()}


async def order_filter(request: Request) -> OrderFilter:
    """The query string's filters (``OrderQuery``); a reversed day range is a 422 too."""
    try:
        m = OrderQuery.model_validate(dict(request.query_params))
    except ValidationError as err:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in err.errors(include_url=False)]
        ) from None
    arrived_from, arrived_to = m.arrived_from, m.arrived_to
    shipped_from, shipped_to = m.shipped_from, m.shipped_to
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
        status=m.status,
        on_hold=m.on_hold,
        q=m.q,
        channel=m.channel,
        shop=m.shop,
        carrier=m.carrier,
        warehouse=m.warehouse,
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
