"""Pick path (拣货路线): the order in which a picker visits the bins of a pick list.

Theory of operation
-------------------
The warehouse is modelled as parallel aisles with a cross-aisle at the front
and at the back (the layout the S-shape and largest-gap heuristics of the
order-picking literature assume). A bin's ``x`` names its aisle (bins with the
same ``x`` share one), ``y`` its position along it; the front and back
cross-aisles are the smallest and largest ``y`` of all bins. Walking from
``a`` to ``b``:

* same aisle: ``|ya - yb|``;
* other aisle: ``|xa - xb|`` plus leaving by the nearer end for both:
  ``min((ya - front) + (yb - front), (back - ya) + (back - yb))``.

The ``manhattan`` metric (``|dx| + |dy|``) is there for open floor layouts.

Algorithm (deterministic, no clock: the work budget is counted in passes):

1. **Naive route**: the needed bins sorted by ``walk_order`` (then code), the
   walk the warehouse was numbered for. This is the baseline the bench prints.
2. **Zones**: zones are visited one after the other, in the order of the
   smallest walk order of their needed bins, so a picker does not go back to
   a zone (fast movers first if they are numbered first).
3. **Seeds** inside each zone: the walk-order sequence, and a nearest-neighbour
   walk from where the previous zone ended.
4. **2-opt** on each seed: reverse a stretch of the path when that shortens it,
   never across a zone boundary; vectorised with numpy over one distance
   matrix, best improving move per start index, until no move helps or
   ``max_passes`` is reached.
5. The naive route improved by the same 2-opt (within its runs of one zone) is
   a candidate too, so the result is never longer than the naive route even
   when the warehouse's walk order interleaves zones.
6. The shortest candidate wins; ties keep the earlier candidate.

Bins without coordinates (not in the bin table, or ``x``/``y`` not finite) are
visited last, by walk order then code, in both routes; their legs are not
counted in either length (they cannot be measured), and they are listed in
:attr:`Route.unlocated` so the pick list can say "location unknown".
The path starts at ``start`` (default: the front of the lowest aisle) and ends
at the last bin (pickers take the cart to the pack area from there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from protocol.messages import BinInfo

Metric = Literal["aisle", "manhattan"]
_Floats = npt.NDArray[np.float64]

#: Coordinates closer than this are the same aisle (metres).
AISLE_EPSILON = 1e-6
DEFAULT_MAX_PASSES = 60


@dataclass(frozen=True, slots=True)
class Route:
    bins: tuple[str, ...]  # visit order, unlocated bins last
    length: float
    naive_bins: tuple[str, ...]
    naive_length: float
    unlocated: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """The cross-aisle positions of a warehouse, computed once from its bin table."""

    front: float
    back: float
    min_x: float

    @classmethod
    def of(cls, bins: Iterable[BinInfo]) -> Layout:
        ys: list[float] = []
        xs: list[float] = []
        for b in bins:
            if _located(b):
                ys.append(b.y)
                xs.append(b.x)
        if not ys:
            return cls(0.0, 0.0, 0.0)
        return cls(min(ys), max(ys), min(xs))


def _located(b: BinInfo | None) -> bool:
    return b is not None and math.isfinite(b.x) and math.isfinite(b.y)


def distance_matrix(
    points: Sequence[tuple[float, float]], layout: Layout, metric: Metric
) -> _Floats:
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x = xy[:, 0]
    y = xy[:, 1]
    dx = np.abs(x[:, None] - x[None, :])
    dy = np.abs(y[:, None] - y[None, :])
    if metric == "manhattan":
        return dx + dy
    via_front = (y[:, None] - layout.front) + (y[None, :] - layout.front)
    via_back = (layout.back - y[:, None]) + (layout.back - y[None, :])
    other_aisle = dx + np.minimum(via_front, via_back)
    return np.where(dx < AISLE_EPSILON, dy, other_aisle)


def path_length(order: Sequence[int], dist: _Floats) -> float:
    """Length of the open path 0 -> order[0] -> order[1] ... (index 0 is the start)."""
    total = 0.0
    prev = 0
    for node in order:
        total += float(dist[prev, node])
        prev = node
    return total


def _two_opt(
    path: list[int], segments: Sequence[tuple[int, int]], dist: _Floats, passes: int
) -> list[int]:
    """2-opt on ``path`` (node 0, the start, is implicit before path[0]).

    A move reverses ``full[i..j]`` of ``full = [0] + path``; both ends must lie in one
    segment ``[lo, hi)`` of ``path`` indices, so zones keep their sequence.
    """
    full = np.array([0, *path], dtype=np.int64)
    n = len(full)
    for _ in range(passes):
        improved = False
        for lo, hi in segments:
            for i in range(lo + 1, hi + 1):  # full index of the first reversed node
                a, b = full[i - 1], full[i]
                js = np.arange(i + 1, hi + 1)  # last reversed node, same segment
                if js.size == 0:
                    continue
                c = full[js]
                nxt = np.where(js + 1 < n, js + 1, 0)
                d = full[nxt]
                has_next = js + 1 < n
                before = dist[a, b] + np.where(has_next, dist[c, d], 0.0)
                after = dist[a, c] + np.where(has_next, dist[b, d], 0.0)
                delta = after - before
                k = int(np.argmin(delta))
                if delta[k] < -1e-9:
                    j = int(js[k])
                    full[i : j + 1] = full[i : j + 1][::-1].copy()
                    improved = True
        if not improved:
            break
    return [int(v) for v in full[1:]]


def _runs(zones: Sequence[str]) -> list[tuple[int, int]]:
    """Maximal runs of equal zone as ``[lo, hi)`` index ranges."""
    runs: list[tuple[int, int]] = []
    lo = 0
    for i in range(1, len(zones) + 1):
        if i == len(zones) or zones[i] != zones[lo]:
            runs.append((lo, i))
            lo = i
    return runs


def _nearest_neighbour(start: int, nodes: list[int], dist: _Floats) -> list[int]:
    left = list(nodes)
    out: list[int] = []
    here = start
    while left:
        row = dist[here, left]
        k = int(np.argmin(row))
        here = left.pop(k)
        out.append(here)
    return out


def plan_route(
    needed: Iterable[str],
    bins: Mapping[str, BinInfo],
    *,
    start: tuple[float, float] | None = None,
    metric: Metric = "aisle",
    max_passes: int = DEFAULT_MAX_PASSES,
    layout: Layout | None = None,
) -> Route:
    """Route through the distinct bin codes in ``needed`` (see the module docstring)."""
    codes = sorted(set(needed))
    lay = layout if layout is not None else Layout.of(bins.values())
    located = [c for c in codes if _located(bins.get(c))]
    unlocated_codes = [c for c in codes if not _located(bins.get(c))]

    def walk_key(code: str) -> tuple[int, str]:
        info = bins.get(code)
        return (info.walk_order if info is not None else 10_000_001, code)

    unlocated = tuple(sorted(unlocated_codes, key=walk_key))
    naive = sorted(located, key=walk_key)
    if not naive:
        return Route(unlocated, 0.0, unlocated, 0.0, unlocated)

    origin = start if start is not None else (lay.min_x, lay.front)
    # Node 0 is the start; node k is naive[k - 1].
    points = [origin] + [(bins[c].x, bins[c].y) for c in naive]
    dist = distance_matrix(points, lay, metric)
    index = {c: k + 1 for k, c in enumerate(naive)}
    zone_of = {index[c]: bins[c].zone for c in naive}

    naive_nodes = [index[c] for c in naive]
    candidates: list[list[int]] = []

    # Zones in order of their first walk order; inside, walk order (naive is sorted).
    zone_first: dict[str, int] = {}
    for c in naive:
        zone_first.setdefault(bins[c].zone, bins[c].walk_order)
    zone_seq = sorted(zone_first, key=lambda z: (zone_first[z], z))
    grouped = [n for z in zone_seq for n in naive_nodes if zone_of[n] == z]
    segments = _runs([zone_of[n] for n in grouped])
    candidates.append(_two_opt(grouped, segments, dist, max_passes))

    nn: list[int] = []
    here = 0
    for z in zone_seq:
        part = _nearest_neighbour(here, [n for n in naive_nodes if zone_of[n] == z], dist)
        nn.extend(part)
        here = part[-1]
    candidates.append(_two_opt(nn, segments, dist, max_passes))

    naive_segments = _runs([zone_of[n] for n in naive_nodes])
    candidates.append(_two_opt(naive_nodes, naive_segments, dist, max_passes))

    naive_length = path_length(naive_nodes, dist)
    best = min(candidates, key=lambda p: path_length(p, dist))  # min keeps the first on ties
    best_length = path_length(best, dist)
    if best_length > naive_length:  # pragma: no cover - candidate 3 is never longer
        best, best_length = naive_nodes, naive_length
    order = tuple(naive[n - 1] for n in best) + unlocated
    return Route(order, best_length, tuple(naive) + unlocated, naive_length, unlocated)
