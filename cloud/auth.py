"""Users, roles and scopes; password hashes (argon2 via pwdlib) and JWT access tokens (PyJWT).

No web code here: the API's dependency (cloud/api/deps.py) calls :func:`decode_token`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import User
from cloud.errors import Unauthenticated

#: Every scope a route can ask for, with what it allows (shown in the OpenAPI login form).
SCOPES: Final[dict[str, str]] = {
    "catalogue:read": "Read SKUs and barcodes",
    "catalogue:write": "Create, change and import SKUs",
    "stock:read": "Read stock views and the ledger",
    "stock:write": "Receive, adjust, transfer and reverse stock",
    "stock:override": "Let stock go negative (logged)",
    "warehouses:write": "Create warehouses, bins and node assignments",
    "orders:read": "Read orders and audit decisions",
    "orders:write": "Create, change, hold and cancel orders",
    "orders:audit": "Audit, reject and release orders (审单)",
    "orders:ship": "Record shipment and reverse outbound",
    "rules:write": "Edit audit rules and carriers",
    "tasks:read": "See tasks for humans",
    "tasks:write": "Resolve tasks",
    "users:admin": "Manage users of the account",
    "nodes:read": "See edge nodes and their events",
    "nodes:write": "Assign edge nodes to warehouses",
}

_READ = {"catalogue:read", "stock:read", "orders:read", "tasks:read", "nodes:read"}
ROLES: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset(SCOPES),
    "auditor": frozenset(
        _READ | {"orders:write", "orders:audit", "rules:write", "tasks:write", "catalogue:write"}
    ),
    "warehouse_lead": frozenset(
        _READ
        | {
            "stock:write",
            "stock:override",
            "warehouses:write",
            "orders:ship",
            "tasks:write",
            "nodes:write",
        }
    ),
    "picker": frozenset({"catalogue:read", "stock:read", "orders:read", "tasks:read"}),
    "finance": frozenset(_READ),
    "readonly": frozenset(_READ),
}

ALGORITHM: Final = "HS256"
_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH: Final = _hasher.hash("guanjia-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, their account and the scopes granted to this token."""

    user_id: int
    username: str
    account_id: int
    role: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"user:{self.username}"


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        _hasher.verify(password, _DUMMY_HASH)
        return None
    ok = _hasher.verify(password, user.password_hash)
    return user if ok and user.active else None


def issue_token(
    user: User, requested: list[str], secret: str, now: datetime, ttl: timedelta
) -> tuple[str, frozenset[str]]:
    """A signed token for the role's scopes, narrowed to ``requested`` when the client asks."""
    allowed = ROLES[user.role]
    granted = allowed & set(requested) if requested else allowed
    claims = {
        "sub": str(user.id),
        "name": user.username,
        "acct": user.account_id,
        "role": user.role,
        "scope": " ".join(sorted(granted)),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), granted


class InvalidToken(Unauthenticated):
    """A token whose signature fails or that has expired."""


def decode_token(token: str, secret: str) -> Principal:
    """The caller a token names, if its signature holds and it has not expired.

    A token's claims cannot change, so a token verified once is remembered (by token and
    secret) and only its expiry is checked again: every API request presents one, and
    verifying it (HMAC, JSON, claims) was about 5 % of a worker's CPU under the bench's mix.
    Bad tokens are not remembered; each is verified, and refused, again.
    """
    try:
        who, exp = _verified(token, secret)
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as err:
        raise InvalidToken(str(err)) from err
    if exp <= time.time():  # as PyJWT decides it (no leeway): expired at exp itself
        raise InvalidToken("Signature has expired")
    return who


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> tuple[Principal, float]:
    claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    who = Principal(
        user_id=int(claims["sub"]),
        username=str(claims["name"]),
        account_id=int(claims["acct"]),
        role=str(claims["role"]),
        scopes=frozenset(str(claims["scope"]).split()),
    )
    return who, float(claims["exp"])
