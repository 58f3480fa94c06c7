"""Fleet: every edge node of the account with presence, last seen, epoch, backlog, oldest
unacked age, lag, alarm and device health (as the nodes last reported them); the table
refreshes itself (htmx polls its rows); and one node's page with its history charts and the
orders it holds to pick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud.api.deps import SessionDep
from cloud.nodes import history, ownership
from cloud.orders import figures, leases
from cloud.web.deps import NodesPage
from cloud.web.render import render
from cloud.web.session import PREFIX

router = APIRouter(prefix=PREFIX)

#: The ranges the node page offers: how far back, the width of a table row (about 30 rows
#: whatever the range, so the no-script table stays readable), and of a chart point beyond
#: a day (each period's worst: 14 days of minutes would be 20,160 points, ~600 KB of JSON;
#: about 1,000 keep the page under the issue's 200 KB first load).
RANGES: dict[str, tuple[timedelta, timedelta, timedelta | None]] = {
    "6h": (timedelta(hours=6), timedelta(minutes=10), None),
    "24h": (timedelta(hours=24), timedelta(hours=1), None),
    "7d": (timedelta(days=7), timedelta(hours=6), timedelta(minutes=10)),
    "14d": (timedelta(days=14), timedelta(hours=12), timedelta(minutes=20)),
}
#: How often the fleet table asks for its rows again (seconds; docs/dashboard.md).
POLL_S = 3


@router.get("/fleet", response_class=HTMLResponse, include_in_schema=False)
def fleet(
    request: Request,
    user: NodesPage,
    session: SessionDep,
    part: Literal["rows"] | None = None,
) -> Response:
    """The whole page, or (``?part=rows``, htmx's poll) only its table body."""
    nodes = figures.fleet(session, user.who.account_id, datetime.now(UTC))
    ctx = {"nodes": nodes, "lag_s": figures.LAG_S, "poll_s": POLL_S}
    if part == "rows":
        return render(request, "_fleet_rows.html", ctx, user=user)
    return render(request, "fleet.html", ctx, user=user)


@router.get("/fleet/{node_id}", response_class=HTMLResponse, include_in_schema=False)
def node_page(
    request: Request,
    node_id: str,
    user: NodesPage,
    session: SessionDep,
    shown: Annotated[Literal["6h", "24h", "7d", "14d"], Query(alias="range")] = "24h",
) -> Response:
    now = datetime.now(UTC)
    found = figures.fleet(session, user.who.account_id, now, node_id)
    if not found:
        raise ownership.UnknownNode(node_id)  # another account's node: the same 404
    span, width, point = RANGES[shown]
    start = now - span
    rows = history.samples(session, node_id, start)
    origin = start.replace(second=0, microsecond=0)
    points = rows if point is None else history.buckets(rows, origin, point)
    chart = {
        # The chart spans the chosen range even where the node sent nothing.
        "from": int(start.timestamp()),
        "to": int(now.timestamp()),
        "t": [int(r.at.timestamp()) for r in points],
        "backlog": [r.backlog for r in points],
        "age_s": [r.oldest_unacked_age_s for r in points],
        "lag_s": [None if r.sync_lag_ms is None else r.sync_lag_ms / 1000 for r in points],
    }
    table = history.buckets(rows, origin, width)
    held = leases.view(session, user.who.account_id, node=node_id)
    return render(
        request,
        "fleet_node.html",
        {
            "n": found[0],
            "range": shown,
            "ranges": list(RANGES),
            "chart": chart,
            "table": list(reversed(table)),
            "samples": len(rows),
            "leases": held,
            "lag_s": figures.LAG_S,
        },
        user=user,
    )
