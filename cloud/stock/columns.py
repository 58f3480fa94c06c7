"""The F10 columns each user chose, in their order (分仓库存: "columns they choose and
reorder", issue 15). Kept per user in ``user_preference``, so they follow the user to any
browser; checked against the stock view's columns (cloud/stock/views.py COLUMNS)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import UserPreference
from cloud.errors import N_, InvalidError
from cloud.stock.views import COLUMNS

KEY: Final = "stock.f10.columns"
DEFAULT: Final = ("name", "on_hand", "reserved", "available", "inbound", "damaged", "channel_stock")


def chosen(session: Session, user_id: int) -> list[str]:
    """The user's columns in their order, or the default; a column the view no longer has
    is left out."""
    pref = session.get(UserPreference, (user_id, KEY))
    if pref is None or not isinstance(pref.value, list):
        return list(DEFAULT)
    cols = [c for c in pref.value if c in COLUMNS]
    return cols or list(DEFAULT)


def choose(session: Session, user_id: int, columns: list[str], now: datetime) -> list[str]:
    """Keep ``columns`` (in this order) as the user's F10 columns."""
    bad = [c for c in columns if c not in COLUMNS]
    if bad:
        raise InvalidError(
            N_("unknown column(s) %(bad)s; choose from %(columns)s"),
            "columns",
            bad=", ".join(bad),
            columns=", ".join(COLUMNS),
        )
    if not columns:
        raise InvalidError(N_("choose at least one column"), "columns")
    cols = list(dict.fromkeys(columns))  # once each, first place kept
    pref = session.execute(
        select(UserPreference).where(UserPreference.user_id == user_id, UserPreference.key == KEY)
    ).scalar_one_or_none()
    if pref is None:
        session.add(UserPreference(user_id=user_id, key=KEY, value=cols, changed_at=now))
    else:
        pref.value, pref.changed_at = cols, now
    return cols
