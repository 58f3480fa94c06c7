"""The hub process's heap after its start: frozen, and the collector's full passes kept rare.

What the process has built by its first start (modules, models, the address parser's tables)
lives as long as it does: frozen (``gc.freeze``), the collector's full passes no longer walk
it. A full pass over it took 126 ms under load, and every request of the worker waited.

A frozen heap has a side effect in CPython 3.11: a full pass runs when the objects promoted
since the last one exceed a quarter of the long-lived heap, and the frozen objects no longer
count in it, so every tenth middle pass became a full one. An order download's slice keeps
thousands of orders' rows alive until its commit: 16 full passes, 2.4 s of a 20,000-order
Double-11 bench whose hub used 7.4 s of CPU (docs/benchmarks.md, "Channels"). The third
threshold at 100 (CPython's default is 10) makes full passes ten times rarer; the young
generations are collected as before.
"""

from __future__ import annotations

import gc

#: CPython's young thresholds, and full passes ten times rarer.
THRESHOLDS = (700, 10, 100)
_settled = False


def settle() -> None:
    """Once per process (a test process starts many apps, and each freeze would pin theirs)."""
    global _settled
    if not _settled:
        _settled = True
        gc.collect()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
