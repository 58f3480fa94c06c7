"""Users, roles and scopes; password hashes (argon2 via pwdlib) and JWT access tokens (PyJWT).

No web code here: the API's dependency (cloud/api/deps.py) calls :func:`decode_token`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import Account, User
from cloud.errors import N_, DomainError, Unauthenticated

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
    "channels:read": "See marketplace shops, their downloads and shipment confirmations",
    "channels:write": "Download now, change shop schedules and courier codes, resend confirmations",
    "finance:read": "Read the books: trial balance and ledger lines",
    "finance:write": (
        "Post to the books and request e-invoices: import and accept bills, resolve "
        "disputes, import settlement bills, record supplier payments, confirm order payments and refunds, close "
        "periods, issue and red invoices"
    ),
}

_READ = {"catalogue:read", "stock:read", "orders:read", "tasks:read", "nodes:read", "channels:read"}
ROLES: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset(SCOPES),
    "auditor": frozenset(
        _READ
        | {
            "orders:write",
            "orders:audit",
            "rules:write",
            "tasks:write",
            "catalogue:write",
            # Orders come in from the marketplaces: the auditor asks for a download now.
            "channels:write",
        }
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
    # The books are for the finance role and admins only (issue 18), not every reader.
    "finance": frozenset(_READ | {"finance:read", "finance:write"}),
    "readonly": frozenset(_READ),
}

ALGORITHM: Final = "HS256"


def _argon2_cost(spec: str | None) -> Argon2Hasher:
    """The argon2id cost: RFC 9106 §4's second recommended option (the "low memory" one,
    argon2-cffi's default: m=64 MiB, t=3, p=4) unless ``GUANJIA_ARGON2`` gives
    ``m=<KiB>,t=<passes>,p=<lanes>``.

    A hash carries its own parameters, so changing them never locks anyone out. The test
    suite sets a cheap cost (tests/conftest.py): at the default every test's login paid two
    hashes of 64 MiB, over a second of CPU on a 2-core machine, for nothing under test.
    """
    if not spec:
        return Argon2Hasher()
    try:
        parts = dict(item.split("=", 1) for item in spec.replace(" ", "").split(","))
        m, t, p = int(parts["m"]), int(parts["t"]), int(parts["p"])
    except (KeyError, ValueError) as e:
        raise ValueError(
            f"GUANJIA_ARGON2 must read m=<KiB>,t=<passes>,p=<lanes>, not {spec!r}"
        ) from e
    if m < 8 * p or t < 1 or p < 1:  # argon2's own floor: 8 KiB of memory per lane
        raise ValueError(
            f"GUANJIA_ARGON2 {spec!r} is below argon2's minimum (m >= 8*p KiB, t >= 1, p >= 1)"
        )
    return Argon2Hasher(memory_cost=m, time_cost=t, parallelism=p)


_hasher = PasswordHash((_argon2_cost(os.environ.get("GUANJIA_ARGON2")),))
# Verified against when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH: Final = _hasher.hash("guanjia-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True)
class Hashed:
    """A password already hashed (on ``HashPool``, before the transaction that stores it).

    The API hashes a new password first and only then opens its write: argon2's ~100 ms
    inside the write held SQLite's write lock all the while (issue 13, finding 4). The CLI
    and tests pass the plain password, hashed on the calling thread (``hashed``)."""

    value: str


def hashed(password: str | Hashed) -> str:
    return password.value if isinstance(password, Hashed) else hash_password(password)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user, their account and the scopes granted to this token."""

    user_id: int
    username: str
    account_id: int
    role: str
    scopes: frozenset[str]
    #: The user's token version when the token was issued (claim ``ver``).
    token_version: int = 0

    @property
    def actor(self) -> str:
        return f"user:{self.username}"


def normalise_username(name: str) -> str:
    """The one form a username is stored and looked up in: "Admin" and "admin" are one user
    (issue 13, finding 10). ``str.lower`` (not SQL ``lower()``, which SQLite applies to ASCII
    only); the API allows ASCII names only, where the two agree."""
    return name.lower()


def authenticate(session: Session, account: str, username: str, password: str) -> User | None:
    """Check a password on the calling thread (the CLI and tests; the API uses ``HashPool``).

    An unknown account, an unknown user, a wrong password and a disabled user cost the same
    hash and all answer None (OWASP API2:2023, no user probing)."""
    user = find_login(session, account, username)
    ok = _hasher.verify(password, user.password_hash if user is not None else _DUMMY_HASH)
    return user if ok and user is not None and user.active else None


def find_login(session: Session, account: str, username: str) -> User | None:
    """The user a login names (``username`` of the seller account named ``account``), active
    or not: the caller checks the password against its hash, or against ``_DUMMY_HASH`` when
    there is none, so that an unknown account or user, a wrong password and a disabled user
    cost the same (no user probing by timing)."""
    return session.execute(
        select(User)
        .join(Account, Account.id == User.account_id)
        .where(Account.name == account, User.username == normalise_username(username))
    ).scalar_one_or_none()


class HashPoolBusy(DomainError):
    """Every slot for password checks is taken (HTTP 503 with Retry-After, RFC 9110 §15.6.4)."""

    status = 503

    def __init__(self) -> None:
        super().__init__(N_("too many logins in progress; try again in a second"))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}


class HashPool:
    """Password checks off the request threads, a bounded number at a time.

    Argon2 (pwdlib's defaults: 64 MiB, 3 passes) costs ~50-100 ms of one core and 64 MiB
    per check; argon2-cffi releases the GIL while it runs, so the checks run beside the
    event loop and the handlers. ``threads`` check at once and ``queue`` more wait; a login
    beyond that is refused at once with 503 (OWASP API4:2023, unrestricted resource
    consumption) rather than queue without bound: a flood of logins then costs at most
    ``threads`` cores and ``threads + queue`` slots, and other users' requests keep theirs.
    Slots are counted on the event loop (one thread), so no lock is needed.
    """

    def __init__(self, threads: int = 0, queue: int = 16) -> None:
        self.threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self.capacity = self.threads + queue
        self._pool = ThreadPoolExecutor(
            self.threads, thread_name_prefix="argon2", initializer=_lower_priority
        )
        self._taken = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """A place in the pool for one login, or ``HashPoolBusy`` at once."""
        if self._taken >= self.capacity:
            raise HashPoolBusy
        self._taken += 1
        try:
            yield
        finally:
            self._taken -= 1

    async def verify(self, user: User | None, password: str) -> User | None:
        """The user if the password is theirs and they are active: one argon2 check whatever
        the case (unknown, wrong, disabled), on the pool."""
        hashed = user.password_hash if user is not None else _DUMMY_HASH
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._pool, _hasher.verify, password, hashed)
        return user if ok and user is not None and user.active else None

    async def hash(self, password: str) -> Hashed:
        """``password`` hashed on the pool, in a slot of its own (``HashPoolBusy`` when full)."""
        async with self.slot():
            loop = asyncio.get_running_loop()
            return Hashed(await loop.run_in_executor(self._pool, _hasher.hash, password))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority() -> None:
    """A password-check thread yields the CPU to the handlers (Linux: ``nice`` is per
    thread): under a flood of logins, other users' requests run first."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


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
        "ver": user.token_version,
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
        token_version=int(claims["ver"]),
    )
    return who, float(claims["exp"])


#: How long a worker trusts what it last read of a user's token version. A token revoked
#: (user disabled, role or password changed) can still be used for at most this long on a
#: worker that checked it just before the change; every other request sees it at once.
TOKEN_VERSION_CACHE_S: Final = 2.0


class TokenVersions:
    """Revocation (issue 13, finding 1; OWASP API2:2023 Broken Authentication): is a token's
    ``ver`` still its user's ``token_version``, and is the user still active?

    The version lives in the database (``app_user.token_version``), so every worker of the
    hub sees a change; a worker keeps what it read for ``ttl_s`` seconds (default
    :data:`TOKEN_VERSION_CACHE_S`) so a burst of requests costs one read per user, not one
    each. ``read`` runs in a worker thread (it is a database round trip).
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        ttl_s: float = TOKEN_VERSION_CACHE_S,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10_000,
    ) -> None:
        self._sessions = sessions
        self.ttl_s = ttl_s
        self._clock = clock
        self._max = max_users
        self._seen: dict[int, tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    def cached(self, who: Principal) -> bool | None:
        """Whether the token is current, from the cache; None when the cache cannot say."""
        hit = self._seen.get(who.user_id)
        if hit is None or self._clock() - hit[0] >= self.ttl_s:
            return None
        return hit[1] == who.token_version

    def read(self, who: Principal) -> bool:
        """Whether the token is current, read from the database (and remembered)."""
        with self._sessions() as s:
            row = s.execute(
                select(User.token_version, User.active).where(
                    User.id == who.user_id, User.account_id == who.account_id
                )
            ).first()
        version = row.token_version if row is not None and row.active else None
        with self._lock:
            if len(self._seen) >= self._max:  # bounded memory: forget all, reread as needed
                self._seen.clear()
            self._seen[who.user_id] = (self._clock(), version)
        return version == who.token_version
