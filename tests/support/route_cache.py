"""Each included route's request state built once per test process, not once per app.

FastAPI (0.16x) builds what an included route needs to answer — its dependency tree, a
pydantic TypeAdapter per parameter and response model, its handler — the first time a
request passes through its router, for every route of every router scanned on the way
(fastapi/routing.py ``_IncludedRouter.effective_candidates``). A hub builds it once (and
before its first request: cloud/serve/warmup.py). The suite makes an app per test, so each
test built it again: 287 routes, 355 ms of CPU for all of them on a 2-core machine, and a
test's first request to a page took 400–800 ms (S34).

The routes of our app are module-level objects included the same way by every app
(cloud/app.py), so the state built for one is the state of each: here the first app's is
kept per route and inclusion (its router, path, tags, dependencies and limits there) and each
later app gets a copy naming itself as its ``dependency_overrides_provider``. The one thing
left pointing at the first app is the handler's view of that provider, which only matters
to a test that sets ``app.dependency_overrides`` — none does; such a test would see the
override ignored and fail, not pass wrongly.

Off (a no-op) when FastAPI's internals are not the ones this knows.
"""

from __future__ import annotations

import copy
from typing import Any


def install() -> None:
    try:
        from fastapi.routing import _EffectiveRouteContext
    except ImportError:
        return
    build = _EffectiveRouteContext.__dict__.get("from_api_route")
    if not isinstance(build, classmethod):
        return
    made: dict[tuple[Any, ...], Any] = {}

    def from_api_route(cls: Any, *, original_route: Any, include_context: Any) -> Any:
        key = (
            id(original_route),
            id(include_context.included_router),
            include_context.path_for(original_route),
            tuple(include_context.tags),
            tuple(id(d) for d in include_context.dependencies),
            include_context.deprecated,
            include_context.include_in_schema,
            include_context.max_body_size,
            repr(getattr(include_context, "form_limits", None)),
        )
        # By id (a route is not hashable); the route is kept beside its state, so an id of
        # a route gone and reused by another object is never taken for it.
        hit = made.get(key)
        if hit is None or hit[0] is not original_route:
            built = build.__func__(
                cls, original_route=original_route, include_context=include_context
            )
            hit = made[key] = (original_route, built)
        context = copy.copy(hit[1])
        context.dependency_overrides_provider = include_context.dependency_overrides_provider
        return context

    _EffectiveRouteContext.from_api_route = classmethod(from_api_route)  # type: ignore[method-assign,assignment]
