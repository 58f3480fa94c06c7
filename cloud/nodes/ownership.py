"""Who owns an edge node: the seller account that enrolled or claimed it (docs/sync.md,
"Who owns a node").

A node belongs to one account, recorded in ``node_owner`` when the platform operator
enrolls it (``guanjia node enroll NODE --account NAME``) or when an admin of the account
enters the node's one-time claim code (``POST /api/v1/nodes/claim``). Only the owner may
assign it to a warehouse, release it, or read its events; to every other account the node
does not exist (404, the same answer as for an id no node has: no oracle, OWASP API
Security Top 10 2023, API1 "Broken Object Level Authorization"). Ownership moves only by
the platform CLI (``guanjia node transfer``).

A node the hub has seen but that has no ``node_owner`` row at all (a hub whose broker lets
unenrolled nodes connect: a single-seller install, the demo) is the default account's,
as it always was (cloud/nodes/downlink.py). A node enrolled without an account waits for
its claim code and is no account's until then: not even the default account reads it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cloud.db.models import (
    Account,
    Event,
    Node,
    NodeAssignment,
    NodeOwner,
    PickLease,
    SalesOrder,
)
from cloud.errors import N_, ConflictError, NotFoundError

#: The account of a node the hub has seen without any enrollment record (module doc); the
#: single seller of a fresh install. cloud/nodes/downlink.py names it too.
DEFAULT_ACCOUNT: Final = 1
#: Crockford's base32 alphabet (no I, L, O, U): read aloud or typed from a label, a code
#: survives the usual confusions (normalise() maps I/L to 1 and O to 0).
_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: 16 symbols of 5 bits: 80 bits from the OS CSPRNG. Online guessing of a code that lives a
#: day is hopeless at that size, so a fast hash (SHA-256) is enough to store it: what the
#: database keeps cannot be entered, and a leaked table gives no usable code
#: (OWASP ASVS 4.0 V2.7 "Out of Band Verifier": single use, expiring, stored hashed).
CODE_SYMBOLS: Final = 16
CLAIM_TTL: Final = timedelta(hours=24)


class UnknownNode(NotFoundError):
    """Not a node of the caller's account: one message whether it is another's or none's."""

    MESSAGE: Final = N_("no node with this id in your account")

    def __init__(self, node_id: str) -> None:
        # The id is left out, so the two bodies are the same bytes whatever was asked;
        # the caller knows which id it sent.
        super().__init__(self.MESSAGE)
        self.node_id = node_id


class ClaimRefused(NotFoundError):
    """One answer for an unknown, used and expired code (no hint which)."""

    def __init__(self) -> None:
        super().__init__(
            N_(
                "no node waits for this claim code: it is mistyped, used already or expired "
                "(the operator can issue a new one with `guanjia node claim-code NODE`)"
            )
        )


def new_claim_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_SYMBOLS))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_SYMBOLS, 4))


def normalise(code: str) -> str:
    table = str.maketrans({"I": "1", "L": "1", "O": "0"})
    return "".join(c for c in code.upper() if c not in "- ").translate(table)


def claim_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode("utf-8")).hexdigest()


# --- reading ---------------------------------------------------------------------------


def owned_by(account_id: int) -> ColumnElement[bool]:
    """``Node.node_id`` of the nodes an account owns (default account: also unrecorded ones)."""
    mine = select(NodeOwner.node_id).where(NodeOwner.account_id == account_id)
    if account_id == DEFAULT_ACCOUNT:
        return Node.node_id.in_(mine) | Node.node_id.not_in(select(NodeOwner.node_id))
    return Node.node_id.in_(mine)


def account_of(session: Session, node_id: str) -> int | None:
    """The node's account: its owner; ``None`` while it waits to be claimed."""
    return accounts_of(session, [node_id])[node_id]


def accounts_of(session: Session, node_ids: list[str]) -> dict[str, int | None]:
    rows = dict(
        session.execute(
            select(NodeOwner.node_id, NodeOwner.account_id).where(NodeOwner.node_id.in_(node_ids))
        ).all()
    )
    return {n: rows.get(n, DEFAULT_ACCOUNT) for n in node_ids}


def require_own(session: Session, account_id: int, node_id: str) -> None:
    """Pass if the caller's account owns the node; else :class:`UnknownNode`.

    The same single lookup runs whether the node is another account's, waits for its claim,
    or does not exist, and each ends in the same exception: the status, the body and the
    time of the answer say nothing about other accounts' nodes.
    """
    # Both rows read every time, so no path is a query shorter than another.
    owner = session.execute(
        select(NodeOwner.account_id).where(NodeOwner.node_id == node_id)
    ).one_or_none()
    seen = session.execute(select(Node).where(Node.node_id == node_id)).scalar_one_or_none()
    if owner is not None:
        if owner.account_id != account_id:
            raise UnknownNode(node_id)
        return
    # No record: a node the hub has seen on a broker without enrollment is the default
    # account's (module doc). An id never seen is no one's yet: enroll or claim it first.
    if account_id != DEFAULT_ACCOUNT or seen is None:
        raise UnknownNode(node_id)
    session.add(
        NodeOwner(
            node_id=node_id,
            account_id=account_id,
            changed_by="adopted: seen without enrollment",
            changed_at=seen.first_seen,
        )
    )
    session.flush()


# --- changing --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Enrolled:
    node_id: str
    account: str | None
    #: Plaintext claim code (printed once) when the node was enrolled without an account.
    claim_code: str | None
    expires_at: datetime | None


def _account(session: Session, name: str) -> Account:
    acct = session.execute(select(Account).where(Account.name == name)).scalar_one_or_none()
    if acct is None:
        raise NotFoundError(N_("no account %(name)r"), name=name)
    return acct


def enroll(
    session: Session,
    node_id: str,
    account_name: str | None,
    actor: str,
    now: datetime,
    *,
    ttl: timedelta = CLAIM_TTL,
) -> Enrolled:
    """Record who owns ``node_id``: ``account_name``, or no one until its claim code is used.

    Enrolling again for the same owner changes nothing (``--rotate`` of credentials); a node
    that is another account's, or that waits for its claim, moves only by :func:`transfer`.
    """
    row = session.get(NodeOwner, node_id, with_for_update=True)
    acct = _account(session, account_name) if account_name is not None else None
    if row is not None:
        if acct is not None and row.account_id == acct.id:
            return Enrolled(node_id, account_name, None, None)
        if row.account_id is None and acct is None:
            return issue_claim_code(session, node_id, actor, now, ttl=ttl)
        raise ConflictError(
            N_(
                "node %(node_id)r is enrolled already for another owner; ownership moves only with "
                "`guanjia node transfer NODE --account NAME`"
            ),
            node_id=node_id,
        )
    if acct is not None:
        session.add(
            NodeOwner(node_id=node_id, account_id=acct.id, changed_by=actor, changed_at=now)
        )
        session.flush()
        return Enrolled(node_id, account_name, None, None)
    session.add(NodeOwner(node_id=node_id, account_id=None, changed_by=actor, changed_at=now))
    session.flush()
    return issue_claim_code(session, node_id, actor, now, ttl=ttl)


def issue_claim_code(
    session: Session, node_id: str, actor: str, now: datetime, *, ttl: timedelta = CLAIM_TTL
) -> Enrolled:
    """A fresh code for a node that waits to be claimed (the previous code stops working)."""
    row = session.get(NodeOwner, node_id, with_for_update=True)
    if row is None or row.account_id is not None:
        raise ConflictError(
            N_(
                "node %(node_id)r does not wait for a claim (it is not enrolled, or it has an "
                "owner): only a node enrolled without --account gets a claim code"
            ),
            node_id=node_id,
        )
    code = new_claim_code()
    row.claim_hash, row.claim_expires_at = claim_hash(code), now + ttl
    row.changed_by, row.changed_at = actor, now
    session.flush()
    return Enrolled(node_id, None, code, row.claim_expires_at)


def claim(session: Session, account_id: int, code: str, actor: str, now: datetime) -> str:
    """The node that waits for ``code`` becomes the account's; the code is spent.

    The row is locked, so of two claims with one code exactly one wins.
    """
    row = session.execute(
        select(NodeOwner)
        .where(NodeOwner.claim_hash == claim_hash(code), NodeOwner.account_id.is_(None))
        .with_for_update()
    ).scalar_one_or_none()
    expires = row.claim_expires_at if row is not None else None
    if row is None or expires is None or expires <= now:
        raise ClaimRefused()
    row.account_id, row.claim_hash, row.claim_expires_at = account_id, None, None
    row.changed_by, row.changed_at = actor, now
    session.flush()
    return row.node_id


def _open_leases(session: Session, node_id: str) -> list[str]:
    return list(
        session.execute(
            select(SalesOrder.order_no)
            .join(PickLease, PickLease.order_id == SalesOrder.id)
            .where(PickLease.node_id == node_id, SalesOrder.status == "released")
            .order_by(SalesOrder.order_no)
            .limit(5)
        ).scalars()
    )


def _refuse_if_picking(session: Session, node_id: str, what: str) -> None:
    busy = _open_leases(session, node_id)
    if busy:
        raise ConflictError(
            N_(
                "node %(node_id)s holds the pick of released orders (%(orders)s%(more)s): move "
                "them to another pick node first (POST /api/v1/orders/{order_no}/pick-node), then "
                "%(what)s"
            ),
            node_id=node_id,
            orders=", ".join(busy),
            more=", …" if len(busy) == 5 else "",
            what=what,
        )


def release(session: Session, account_id: int, node_id: str) -> None:
    """The node serves no warehouse any more; it stays the account's (it can be reassigned)."""
    require_own(session, account_id, node_id)
    current = session.get(NodeAssignment, node_id, with_for_update=True)
    if current is None:
        raise ConflictError(
            N_("node %(node_id)s serves no warehouse: there is nothing to release"), node_id=node_id
        )
    _refuse_if_picking(session, node_id, "release it")
    session.delete(current)
    session.flush()


@dataclass(frozen=True, slots=True)
class Transferred:
    node_id: str
    old_account: str | None
    new_account: str
    #: Stored events of the node, which the new owner can now read.
    events: int


def transfer(
    session: Session, node_id: str, account_name: str, actor: str, now: datetime
) -> Transferred:
    """The platform operator's move of a node to another account (never through the API).

    Its assignment (a warehouse of the old owner) is dropped; a pending claim code dies.
    """
    acct = _account(session, account_name)
    row = session.get(NodeOwner, node_id, with_for_update=True)
    seen = session.get(Node, node_id) is not None
    if row is None and not seen:
        raise NotFoundError(
            N_("no node %(node_id)r: enroll it with `guanjia node enroll`"), node_id=node_id
        )
    old_id = row.account_id if row is not None else DEFAULT_ACCOUNT
    if old_id == acct.id:
        raise ConflictError(
            N_("node %(node_id)r is %(account_name)r's already"),
            node_id=node_id,
            account_name=account_name,
        )
    old = session.get(Account, old_id) if old_id is not None else None
    _refuse_if_picking(session, node_id, "transfer it")
    session.execute(delete(NodeAssignment).where(NodeAssignment.node_id == node_id))
    if row is None:
        row = NodeOwner(node_id=node_id, account_id=acct.id, changed_by=actor, changed_at=now)
        session.add(row)
    row.account_id, row.claim_hash, row.claim_expires_at = acct.id, None, None
    row.changed_by, row.changed_at = actor, now
    session.flush()
    events = session.execute(
        select(func.count()).select_from(Event).where(Event.node_id == node_id)
    ).scalar_one()
    return Transferred(node_id, old.name if old else None, account_name, events)


__all__ = [
    "ClaimRefused",
    "Enrolled",
    "Transferred",
    "UnknownNode",
    "account_of",
    "accounts_of",
    "claim",
    "enroll",
    "issue_claim_code",
    "owned_by",
    "release",
    "require_own",
    "transfer",
]
