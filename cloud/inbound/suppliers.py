"""Suppliers (供应商): whom purchase orders are placed with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Supplier
from cloud.errors import N_, ConflictError, NotFoundError


def create(
    session: Session,
    account_id: int,
    code: str,
    name: str,
    contact: str | None,
    actor: str,
    now: datetime,
) -> Supplier:
    if find(session, account_id, code) is not None:
        raise ConflictError(
            N_("supplier %(code)s already exists; change it instead of adding it again"), code=code
        )
    s = Supplier(
        account_id=account_id,
        code=code,
        name=name,
        contact=contact,
        changed_by=actor,
        changed_at=now,
    )
    session.add(s)
    session.flush()
    return s


def update(
    session: Session,
    account_id: int,
    code: str,
    name: str,
    contact: str | None,
    actor: str,
    now: datetime,
) -> Supplier:
    s = by_code(session, account_id, code)
    s.name, s.contact, s.changed_by, s.changed_at = name, contact, actor, now
    return s


def find(session: Session, account_id: int, code: str) -> Supplier | None:
    return session.execute(
        select(Supplier).where(Supplier.account_id == account_id, Supplier.code == code)
    ).scalar_one_or_none()


def by_code(session: Session, account_id: int, code: str) -> Supplier:
    s = find(session, account_id, code)
    if s is None:
        raise NotFoundError(N_("no supplier %(code)r"), code=code)
    return s


def list_suppliers(session: Session, account_id: int, limit: int, offset: int) -> list[Supplier]:
    return list(
        session.execute(
            select(Supplier)
            .where(Supplier.account_id == account_id)
            .order_by(Supplier.code)
            .limit(limit)
            .offset(offset)
        ).scalars()
    )


def by_code_or_name(
    session: Session, account_id: int, text: str, actor: str, now: datetime
) -> Supplier:
    """The supplier a free-text name means (the old /stock/purchases form): by code, else
    by name, else a new supplier with that text as code and name."""
    found = (
        find(session, account_id, text[:64])
        or session.execute(
            select(Supplier)
            .where(Supplier.account_id == account_id, Supplier.name == text)
            .order_by(Supplier.id)
            .limit(1)
        ).scalar_one_or_none()
    )
    return found or create(session, account_id, text[:64], text, None, actor, now)
