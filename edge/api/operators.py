"""Operators of the pick API: who they are, their PIN hashes, login with lockout, bearer tokens.

No web framework in here: the routers call :class:`Gate`.

PINs are short (4-12 digits), so a stolen hash falls to brute force whatever the hash
costs; what protects a PIN is that it is never stored in clear (:mod:`edge.pins`, the
same hashes as the pack station's leads), that login answers in the same time whether
the operator exists or not, and that a few wrong PINs lock the operator id out (OWASP
Authentication Cheat Sheet, "Login Throttling").

The operators file (TOML)::

    [[operator]]
    id = "li.lei"
    name = "李雷"
    pin_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # guanjia edge hash-pin
    roles = ["pick"]                                   # "pick", "lead"
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import tomllib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from edge.errors import EdgeError
from edge.pins import decoy_hash, pin_hash_problem, verify_pin

OPERATOR_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Role = Literal["pick", "lead"]


class OperatorError(EdgeError):
    """The operators file cannot be used; the message names the file and the entry."""

    code = "operators"


def _default_roles() -> list[Role]:
    return ["pick"]


class Operator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=OPERATOR_ID_PATTERN)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    pin_hash: Annotated[str, StringConstraints(min_length=10, max_length=500)]
    roles: list[Role] = Field(default_factory=_default_roles)


class _OperatorsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    operator: list[Operator] = Field(default_factory=list)


def load_operators(path: Path) -> list[Operator]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OperatorError(f"{path}: no such operators file") from None
    except tomllib.TOMLDecodeError as err:
        raise OperatorError(f"{path}: not valid TOML: {err}") from None
    try:
        parsed = _OperatorsFile.model_validate(raw)
    except ValidationError as err:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc'])}: "
            + ("unknown key" if e["type"] == "extra_forbidden" else e["msg"])
            for e in err.errors(include_url=False)
        ]
        raise OperatorError(f"{path}: invalid operators file\n" + "\n".join(lines)) from None
    check_operators(parsed.operator, str(path))
    return list(parsed.operator)


def check_operators(operators: Iterable[Operator], where: str = "operators") -> None:
    seen: set[str] = set()
    for op in operators:
        if op.id in seen:
            raise OperatorError(f"{where}: operator {op.id!r} is listed twice")
        seen.add(op.id)
        problem = pin_hash_problem(op.pin_hash)
        if problem is not None:
            raise OperatorError(f"{where}: operator {op.id!r}: pin_hash: {problem}")


# --- login, lockout, tokens ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateSettings:
    #: Wrong PINs in a row that lock an operator id (known or not) ...
    max_failures: int = 5
    #: ... for this long.
    lockout_s: float = 300.0
    #: A bearer token lives one shift.
    token_ttl_s: float = 12 * 3600.0
    #: Operator ids whose failures are remembered (oldest forgotten first: bounded memory).
    max_tracked_ids: int = 10_000
    #: Login attempts one client address may make in ``client_window_s`` (a token bucket
    #: refilled evenly; a good login gives its token back) before 429 with Retry-After
    #: (OWASP API Security Top 10 2023, API4 "Unrestricted Resource Consumption").
    client_attempts: int = 10
    client_window_s: float = 60.0
    #: Client addresses remembered (least recently seen forgotten first: bounded memory).
    max_tracked_clients: int = 4096
    #: PIN hashes running at once, and waiting, before 429 (edge/api/limits.py PinPool).
    hash_workers: int = 2
    hash_queue: int = 8


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    operator: Operator
    expires_at: float


class LoginRefused(EdgeError):
    """``status`` 401 (wrong operator id or PIN), 403 (locked out, ``Retry-After``) or 429
    (too many attempts from this client, or the PIN hashing pool is full; ``Retry-After``,
    RFC 6585 §4, RFC 9110 §10.2.3)."""

    def __init__(self, status: int, code: str, message: str, retry_after_s: float = 0) -> None:
        headers = {"Retry-After": str(int(retry_after_s) + 1)} if status in (403, 429) else None
        super().__init__(message, code=code, status=status, headers=headers)
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt admitted by :meth:`Gate.begin`, already counted; :meth:`Gate.finish`
    runs the hash."""

    operator_id: str
    client: str | None


def _token_key(token: str) -> str:
    # Tokens are kept by their digest: a memory dump or a debug print does not reveal them.
    return hashlib.sha256(token.encode()).hexdigest()


class Gate:
    """PIN login with lockout, and the bearer tokens it hands out (in memory: a restart logs out)."""

    def __init__(
        self,
        operators: Iterable[Operator],
        settings: GateSettings = GateSettings(),
        *,
        monotonic: Callable[[], float] = time.monotonic,
        verify: Callable[[str, str], bool] = verify_pin,
    ) -> None:
        ops = list(operators)
        check_operators(ops)
        self.operators = {op.id: op for op in ops}
        self.settings = settings
        self._now = monotonic
        self._verify = verify
        self._decoy = decoy_hash(op.pin_hash for op in ops)
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()
        self._tokens: dict[str, Session] = {}
        self._lock = threading.Lock()

    def login(self, operator_id: str, pin: str, client: str | None = None) -> Session:
        """A new session, or :class:`LoginRefused`. Runs the hash either way (timing)."""
        return self.finish(self.begin(operator_id, client), pin)

    def begin(self, operator_id: str, client: str | None = None) -> Attempt:
        """Admit one attempt, or :class:`LoginRefused` (403 locked, 429 client limit).

        Fast (no hash). The attempt is counted as a wrong PIN here, under the lock and
        BEFORE the hash runs; a good PIN takes it back in :meth:`finish`. Counting after
        the hash let concurrent attempts all pass the lock check while their hashes ran
        (60 concurrent wrong PINs: 17 evaluated, not 5); now at most ``max_failures``
        are ever evaluated before the lock (OWASP Authentication Cheat Sheet, "Login
        Throttling").
        """
        now = self._now()
        with self._lock:
            if client is not None:
                self._take_client_token(client, now)
            entry = self._failures.pop(operator_id, None) or _Failures()
            self._failures[operator_id] = entry  # most recently used last
            while len(self._failures) > self.settings.max_tracked_ids:
                self._failures.popitem(last=False)
            if entry.locked_until > now:
                raise LoginRefused(
                    403,
                    "locked",
                    f"too many wrong PINs: operator {operator_id!r} is locked, try again later",
                    entry.locked_until - now,
                )
            entry.count += 1
            if entry.count >= self.settings.max_failures:
                entry.count = 0
                entry.locked_until = now + self.settings.lockout_s
        return Attempt(operator_id, client)

    def finish(self, attempt: Attempt, pin: str) -> Session:
        """Run the hash of an admitted attempt: a session, or 401."""
        op = self.operators.get(attempt.operator_id)
        # The hash runs outside the lock (it is the slow part) and for unknown ids too.
        ok = self._verify(pin, op.pin_hash if op is not None else self._decoy) and op is not None
        now = self._now()
        with self._lock:
            if not ok:
                raise LoginRefused(401, "bad_credentials", "unknown operator or wrong PIN")
            assert op is not None
            # A good PIN clears the count, including a lock this very attempt set.
            self._failures.pop(attempt.operator_id, None)
            if attempt.client is not None:
                self._refund_client_token(attempt.client)
            self._expire(now)
            session = Session(secrets.token_urlsafe(32), op, now + self.settings.token_ttl_s)
            self._tokens[_token_key(session.token)] = session
            return session

    def _take_client_token(self, client: str, now: float) -> None:
        # Token bucket per client address, in bounded memory (an LRU of
        # max_tracked_clients): the pick API is one process serving one warehouse LAN
        # (docs/pick-api.md), so process memory is the whole state; evicting the least
        # recently seen address can only forget a quiet client, and the bounded PIN
        # pool caps the cost of whoever is forgotten.
        s = self.settings
        rate = s.client_attempts / s.client_window_s
        bucket = self._clients.pop(client, None) or _Bucket(float(s.client_attempts), now)
        self._clients[client] = bucket
        while len(self._clients) > s.max_tracked_clients:
            self._clients.popitem(last=False)
        bucket.tokens = min(float(s.client_attempts), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            raise LoginRefused(
                429,
                "too_many_attempts",
                "too many login attempts from this device: wait and try again",
                (1.0 - bucket.tokens) / rate,
            )
        bucket.tokens -= 1.0

    def _refund_client_token(self, client: str) -> None:
        bucket = self._clients.get(client)
        if bucket is not None:
            bucket.tokens = min(float(self.settings.client_attempts), bucket.tokens + 1.0)

    def session(self, token: str) -> Session | None:
        now = self._now()
        key = _token_key(token)
        with self._lock:
            found = self._tokens.get(key)
            if found is None or found.expires_at <= now:
                self._tokens.pop(key, None)
                return None
            # The operator may have been removed from the file since (reload = restart).
            return found

    def logout(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(_token_key(token), None)

    def _expire(self, now: float) -> None:
        for token in [t for t, s in self._tokens.items() if s.expires_at <= now]:
            del self._tokens[token]
