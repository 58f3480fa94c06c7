"""One SQL compile cache for every engine of a test process, per kind of database.

SQLAlchemy caches each statement's compiled SQL per engine, keyed by the engine's dialect
object (sqlalchemy/sql/elements.py ``_compile_w_cache``): a hub that runs for days compiles
each statement once. The suite makes an engine per test — a new app, a new copy of the
database — so every test compiled every statement it ran anew: about 2 ms each on a 2-core
machine, 70 in the test's own thread alone for a typical web test (cProfile, S34), over
4,000 tests. Compiled SQL depends on the dialect's class and its settings, not on which
engine or which database of one server it runs on; here, dialects of one class and one
server version compare equal, and every engine of a kind shares one cache.

What this does not change: what each statement compiles to (the same dialect class with
the same settings compiles it), and every statement still runs against its test's own
database. Hubs and nodes the end-to-end tests start are processes of their own, untouched.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import util
from sqlalchemy.engine import Engine
from sqlalchemy.engine.default import DefaultDialect

_SIZE = 20_000
_caches: dict[tuple[type, Any], Any] = {}


def _settings(d: DefaultDialect) -> tuple[Any, ...]:
    # Everything of a dialect that a compiled statement depends on, beyond its class.
    return (
        type(d),
        d.server_version_info,
        d.paramstyle,
        d.label_length,
        d.max_identifier_length,
        d.use_insertmanyvalues,
        d.insertmanyvalues_page_size,
        d.supports_native_boolean,
        d.default_schema_name,
    )


def _eq(self: DefaultDialect, other: object) -> bool:
    if self is other:
        return True
    if type(self) is not type(other):
        return NotImplemented
    assert isinstance(other, DefaultDialect)
    return _settings(self) == _settings(other)


def _hash(self: DefaultDialect) -> int:
    return hash(type(self))


def install() -> None:
    """From now on in this process: dialects of one class and settings are equal, and each
    new engine takes the shared cache of its dialect's class."""
    DefaultDialect.__eq__ = _eq  # type: ignore[method-assign,assignment]
    DefaultDialect.__hash__ = _hash  # type: ignore[method-assign,assignment]
    init = Engine.__init__

    def __init__(self: Engine, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if self._compiled_cache is not None:
            key = (type(self.dialect), self.url.get_backend_name())
            cache = _caches.get(key)
            if cache is None:
                cache = _caches[key] = util.LRUCache(_SIZE)
            self._compiled_cache = cache

    Engine.__init__ = __init__  # type: ignore[method-assign]
