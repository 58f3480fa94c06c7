"""One call to a courier's e-waybill service, as both outboxes of waybill numbers make it: the
order draws (cloud/channels/waybills.py) and the nodes' offline pools
(cloud/channels/waybill_pool.py). Both lease a row, call, and write the outcome back only while
the row is still theirs; what they share is here, so a draw, a give-back or a correction of a
pool number behaves the same wherever it is made:

- ``claim``: the due rows of a table, each leased by one conditional UPDATE (two hub processes
  never call for one row at once; a dead process's rows go to others when its lease runs out).
- ``attempt``: the call itself. A shop that needs re-authorisation is not called; a refusal
  (``isv.*``: :class:`Refused`) is final; a call limit, a 5xx or a lost answer is tried again.
- ``after_error``: what the row becomes after a failed call (backed off, doubling from 30 s to
  an hour, or given up after ``MAX_ATTEMPTS``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cloud.channels.ports import AuthRejected, ChannelError, Retryable
from cloud.db.models import ChannelShop
from cloud.db.waybills import PoolWaybill, Waybill

MAX_ATTEMPTS = 12
LEASE = timedelta(minutes=5)

T = TypeVar("T")


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def claim(
    session: Session,
    model: type[Waybill] | type[PoolWaybill],
    due: tuple[Any, ...],
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[int]:
    """Lease up to ``limit`` rows of ``model`` matching ``due`` (and due by ``next_try_at``)."""
    free = or_(model.lease_owner.is_(None), model.lease_until < now)
    cond = (*due, model.next_try_at <= now)
    ids = list(
        session.execute(
            select(model.id).where(*cond, free).order_by(model.next_try_at, model.id).limit(limit)
        ).scalars()
    )
    out = []
    for row_id in ids:
        done = session.execute(
            update(model)
            .where(model.id == row_id, *cond, free)
            .values(lease_owner=owner, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            out.append(row_id)
    return out


@dataclass
class Attempt(Generic[T]):
    """A call's outcome: ``result``, or ``error`` (``final``: the courier refused)."""

    result: T | None = None
    error: str | None = None
    final: bool = False


def attempt(shop: ChannelShop, call: Callable[[], T]) -> Attempt[T]:
    if shop.status == "needs_reauth":
        return Attempt(error=f"the shop needs re-authorisation: {shop.status_reason}")
    try:
        return Attempt(result=call())
    except (Retryable, AuthRejected) as err:
        return Attempt(error=str(err))
    except ChannelError as err:
        return Attempt(error=str(err), final=True)


def after_error(
    attempts: int, error: str, final: bool, at: datetime
) -> tuple[dict[str, Any], bool]:
    """The row's new values after a failed call (its ``attempts`` counted), and whether it
    is given up (then the caller sets its final state)."""
    tries = attempts + 1
    if not final and tries >= MAX_ATTEMPTS:
        error, final = f"gave up after {tries} attempts: {error}", True
    values: dict[str, Any] = {"attempts": tries, "error": error[:2000]}
    if not final:
        values["next_try_at"] = at + backoff(tries)
    return values, final
