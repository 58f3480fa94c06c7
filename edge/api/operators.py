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


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    operator: Operator
    expires_at: float


class LoginRefused(EdgeError):
    """``status`` 401 (wrong operator id or PIN) or 403 (locked out, ``Retry-After``)."""

    def __init__(self, status: int, code: str, message: str, retry_after_s: float = 0) -> None:
        headers = {"Retry-After": str(int(retry_after_s) + 1)} if status == 403 else None
        super().__init__(message, code=code, status=status, headers=headers)
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class _Failures:
    count: int = 0
    locked_until: float = 0.0


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
        self._tokens: dict[str, Session] = {}
        self._lock = threading.Lock()

    def login(self, operator_id: str, pin: str) -> Session:
        """A new session, or :class:`LoginRefused`. Runs the hash either way (timing)."""
        now = self._now()
        with self._lock:
            entry = self._failures.get(operator_id)
            if entry is not None and entry.locked_until > now:
                raise LoginRefused(
                    403,
                    "locked",
                    f"too many wrong PINs: operator {operator_id!r} is locked, try again later",
                    entry.locked_until - now,
                )
        op = self.operators.get(operator_id)
        # The hash runs outside the lock (it is the slow part) and for unknown ids too.
        ok = self._verify(pin, op.pin_hash if op is not None else self._decoy) and op is not None
        with self._lock:
            if not ok:
                entry = self._failures.pop(operator_id, None) or _Failures()
                entry.count += 1
                if entry.count >= self.settings.max_failures:
                    entry.count = 0
                    entry.locked_until = now + self.settings.lockout_s
                self._failures[operator_id] = entry
                while len(self._failures) > self.settings.max_tracked_ids:
                    self._failures.popitem(last=False)
                raise LoginRefused(401, "bad_credentials", "unknown operator or wrong PIN")
            assert op is not None
            self._failures.pop(operator_id, None)
            self._expire(now)
            session = Session(secrets.token_urlsafe(32), op, now + self.settings.token_ttl_s)
            self._tokens[_token_key(session.token)] = session
            return session

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
