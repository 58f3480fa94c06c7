"""PIN hashes: the pick API's operators and the pack station's leads, one scheme.

A PIN is never stored, only its hash: argon2id via pwdlib (OWASP Password Storage
Cheat Sheet minimum: m=19 MiB, t=2, p=1, about 50 ms on a desktop core), falling back
to ``hashlib.scrypt`` (n=2**14, r=8, p=1) when pwdlib is not installed. Both carry a
random salt and their parameters, so ``guanjia edge hash-pin`` makes the value for an
operators file entry and for ``[pack.leads]`` alike.

PINs are short (4-12 digits): a stolen hash falls to brute force whatever it costs.
The hash keeps the PIN out of config files and backups; the callers add the rest
(the pick API's lockout, the pack station's lead log).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Iterable
from typing import Final, Literal

try:  # pragma: no cover - which branch runs depends on the install
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    HAVE_ARGON2 = True
except ImportError:  # pragma: no cover
    HAVE_ARGON2 = False

PIN_PATTERN: Final = r"^[0-9]{4,12}$"

# OWASP Password Storage Cheat Sheet, "Argon2id": m=19456 KiB, t=2, p=1.
ARGON2_MEMORY_KIB: Final = 19456
ARGON2_TIME_COST: Final = 2
ARGON2_PARALLELISM: Final = 1
# Same sheet, "scrypt": N=2^17 is its first choice; 2^14 keeps a Pi login under ~100 ms.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1

_ARGON2_PARAMS = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$")
#: What the pack station's leads were before: the bare hex SHA-256 of the PIN.
_OLD_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def pin_hash_problem(pin_hash: str) -> str | None:
    """Why ``pin_hash`` cannot be used, or None if it can."""
    if _OLD_SHA256.fullmatch(pin_hash):
        return (
            "this is an old unsalted SHA-256 PIN hash; make a new one with `guanjia edge hash-pin`"
        )
    if not (pin_hash.startswith("$argon2id$") or pin_hash.startswith("scrypt$")):
        return "neither argon2id nor scrypt (make one with `guanjia edge hash-pin`)"
    if pin_hash.startswith("$argon2") and not HAVE_ARGON2:  # pragma: no cover
        return "an argon2 hash, but pwdlib is not installed"
    return None


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


def decoy_hash(pin_hashes: Iterable[str]) -> str:
    """A hash of a random PIN with the most common parameters of ``pin_hashes``.

    An unknown id is checked against it, so the answer takes as long as a wrong PIN
    for a real one and does not tell which ids exist.
    """
    params: Counter[tuple[str, ...]] = Counter()
    for pin_hash in pin_hashes:
        m = _ARGON2_PARAMS.match(pin_hash)
        if m is not None:
            params[("argon2id", m[1], m[2], m[3])] += 1
        elif pin_hash.startswith("scrypt$"):
            params[("scrypt", *pin_hash.split("$")[1:4])] += 1
    pin = f"{secrets.randbelow(10**8):08d}"
    if not params:
        return hash_pin(pin)
    best = params.most_common(1)[0][0]
    if best[0] == "argon2id":
        return _argon2(int(best[1]), int(best[2]), int(best[3])).hash(pin)
    n, r, p = (int(v) for v in best[1:4])
    salt = secrets.token_bytes(16)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(_scrypt(pin, salt, n, r, p))}"
