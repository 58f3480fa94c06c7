"""Checks shared by the tests of a migration that gave old English rows a message id (0046,
0048, 0051: tests/cloud/web/test_decision_reasons.py, test_movement_reasons.py): the English a
hub wrote before it parses as a sentence that says the same English again and the Chinese
the page shows; what does not parse stays as stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def assert_parsed_as(cases: Iterable[tuple[dict[str, Any] | None, str, str | None]]) -> None:
    """Each ``(said, english, chinese)``, ``said`` what the migration's parse made of
    ``english``: a sentence whose English is ``english`` again and whose Chinese is
    ``chinese``; with ``chinese`` None, nothing (the page shows the English as stored)."""
    from cloud.orders.reasons import line_in
    from cloud.web import i18n

    zh = i18n.translations("zh_CN").gettext
    for said, english, chinese in cases:
        if chinese is None:
            assert said is None, english
            assert line_in(None, None, english, zh) == english
            continue
        assert said is not None, english
        assert line_in(said["msgid"], said["params"], english, lambda m: m) == english
        assert line_in(said["msgid"], said["params"], english, zh) == chinese, english


def assert_migrated(rows: Sequence[Any], cases: Iterable[tuple[str, str | None]]) -> None:
    """Rows (``reason``, ``message``) read back after the upgrade, in the order the
    ``(english, chinese)`` cases were written: each keeps its English, and has a message id
    exactly when its English parses (``chinese`` is not None)."""
    assert [(r.reason, r.message is not None) for r in rows] == [
        (english, chinese is not None) for english, chinese in cases
    ]
