"""Operators of the pick API: who they are, their PIN hashes, login with lockout, bearer tokens.

No web framework in here: the routers call :class:`Gate`.

PINs are short (4-12 digits), so a stolen hash falls to brute force whatever the hash
costs; what protects a PIN is that it is never stored in clear, that login answers in
the same time whether the operator exists or not, and that a few wrong PINs lock the
operator id out (OWASP Authentication Cheat Sheet, "Login Throttling"). Hashes are
argon2id via pwdlib (OWASP Password Storage Cheat Sheet minimum: m=19 MiB, t=2, p=1,
about 50 ms on a desktop core) and fall back to ``hashlib.scrypt`` (n=2**14, r=8, p=1)
when pwdlib is not installed.

The operators file (TOML)::

    [[operator]]
    id = "li.lei"
    name = "李雷"
    pin_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."   # guanjia edge hash-pin
    roles = ["pick"]                                   # "pick", "lead"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import tomllib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

try:  # pragma: no cover - which branch runs depends on the install
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    HAVE_ARGON2 = True
except ImportError:  # pragma: no cover
    HAVE_ARGON2 = False

OPERATOR_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PIN_PATTERN: Final = r"^[0-9]{4,12}$"
Role = Literal["pick", "lead"]

# OWASP Password Storage Cheat Sheet, "Argon2id": m=19456 KiB, t=2, p=1.
ARGON2_MEMORY_KIB: Final = 19456
ARGON2_TIME_COST: Final = 2
ARGON2_PARALLELISM: Final = 1
# Same sheet, "scrypt": N=2^17 is its first choice; 2^14 keeps a Pi login under ~100 ms.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1

_ARGON2_PARAMS = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")


class OperatorError(Exception):
    """The operators file cannot be used; the message names the file and the entry."""


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
        if not _known_scheme(op.pin_hash):
            raise OperatorError(
                f"{where}: operator {op.id!r}: pin_hash is neither argon2id nor scrypt "
                "(make one with `guanjia edge hash-pin`)"
            )
        if op.pin_hash.startswith("$argon2") and not HAVE_ARGON2:  # pragma: no cover
            raise OperatorError(
                f"{where}: operator {op.id!r} has an argon2 hash but pwdlib is not installed"
            )


# --- hashing ------------------------------------------------------------------------------


def _known_scheme(pin_hash: str) -> bool:
    return pin_hash.startswith("$argon2id$") or pin_hash.startswith("scrypt$")


def _argon2(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHash:
    return PasswordHash(
        (Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism),)
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**26)


def hash_pin(pin: str, *, scheme: Literal["argon2id", "scrypt"] | None = None) -> str:
    """A storable hash of ``pin`` (argon2id when pwdlib is installed, else scrypt)."""
    if re.fullmatch(PIN_PATTERN, pin) is None:
        raise ValueError("a PIN is 4 to 12 digits")
    chosen = scheme or ("argon2id" if HAVE_ARGON2 else "scrypt")
    if chosen == "argon2id":
        return _argon2(ARGON2_MEMORY_KIB, ARGON2_TIME_COST, ARGON2_PARALLELISM).hash(pin)
    salt = secrets.token_bytes(16)
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    """Constant-time check of ``pin`` against ``pin_hash``; a malformed hash is a mismatch."""
    if pin_hash.startswith("$argon2id$"):
        m = _ARGON2_PARAMS.match(pin_hash)
        if m is None or not HAVE_ARGON2:
            return False
        hasher = _argon2(int(m[1]), int(m[2]), int(m[3]))
        try:
            return bool(hasher.verify(pin, pin_hash))
        except Exception:  # pwdlib raises on hashes it cannot parse
            return False
    parts = pin_hash.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, want = _unb64(parts[4]), _unb64(parts[5])
        got = _scrypt(pin, salt, n, r, p)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, want)


def decoy_hash(operators: Iterable[Operator]) -> str:
    """A hash of a random PIN with the operators' most common parameters.

    An unknown operator id is checked against it, so the answer takes as long as a wrong
    PIN for a real operator and does not tell which ids exist.
    """
    params: Counter[tuple[str, ...]] = Counter()
    for op in operators:
        m = _ARGON2_PARAMS.match(op.pin_hash)
        if m is not None:
            params[("argon2id", m[1], m[2], m[3])] += 1
        elif op.pin_hash.startswith("scrypt$"):
            params[("scrypt", *op.pin_hash.split("$")[1:4])] += 1
    pin = f"{secrets.randbelow(10**8):08d}"
    if not params:
        return hash_pin(pin)
    best = params.most_common(1)[0][0]
    if best[0] == "argon2id":
        return _argon2(int(best[1]), int(best[2]), int(best[3])).hash(pin)
    n, r, p = (int(v) for v in best[1:4])
    salt = secrets.token_bytes(16)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(_scrypt(pin, salt, n, r, p))}"


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


class LoginRefused(Exception):
    """``status`` 401 (wrong operator id or PIN) or 403 (locked out)."""

    def __init__(self, status: int, code: str, message: str, retry_after_s: float = 0) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
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
        self._decoy = decoy_hash(ops)
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
