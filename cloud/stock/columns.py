"""The stock columns each user chose, in their order: F10 (分仓库存) and F9 (总仓库), "with a
column chooser (the API's columns), order saved per user" (issue 15). Kept per user in
``user_preference``, so they follow the user to any browser; checked against the stock
view's columns (cloud/stock/views.py COLUMNS). F9 has no bins (a bin is in one warehouse)."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import UserPreference
from cloud.errors import N_, InvalidError
from cloud.stock.views import COLUMNS

View = Literal["f9", "f10"]
KEY: Final = "stock.f10.columns"
DEFAULT: Final = ("name", "on_hand", "reserved", "available", "inbound", "damaged", "channel_stock")
#: Per view: the preference's key, the columns before a user chooses, the columns it offers.
VIEWS: Final[dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    "f10": (KEY, DEFAULT, COLUMNS),
    "f9": (
        "stock.f9.columns",
        ("name", "on_hand", "reserved", "available", "inbound", "damaged", "sales_7d"),
        tuple(c for c in COLUMNS if c != "bins"),
    ),
}


def offered(view: View = "f10") -> tuple[str, ...]:
    return VIEWS[view][2]


def chosen(session: Session, user_id: int, view: View = "f10") -> list[str]:
    """The user's columns in their order, or the default; a column the view no longer has
    is left out."""
    key, default, allowed = VIEWS[view]
    pref = session.get(UserPreference, (user_id, key))
    if pref is None or not isinstance(pref.value, list):
        return list(default)
    cols = [c for c in pref.value if c in allowed]
    return cols or list(default)


def choose(
    session: Session, user_id: int, columns: list[str], now: datetime, view: View = "f10"
) -> list[str]:
    """Keep ``columns`` (in this order) as the user's columns of ``view``."""
    key, _default, allowed = VIEWS[view]
    bad = [c for c in columns if c not in allowed]
    if bad:
        raise InvalidError(
            N_("unknown column(s) %(bad)s; choose from %(columns)s"),
            "columns",
            bad=", ".join(bad),
            columns=", ".join(allowed),
        )
    if not columns:
        raise InvalidError(N_("choose at least one column"), "columns")
    cols = list(dict.fromkeys(columns))  # once each, first place kept
    pref = session.execute(
        select(UserPreference).where(UserPreference.user_id == user_id, UserPreference.key == key)
    ).scalar_one_or_none()
    if pref is None:
        session.add(UserPreference(user_id=user_id, key=key, value=cols, changed_at=now))
    else:
        pref.value, pref.changed_at = cols, now
    return cols
