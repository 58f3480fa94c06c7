"""Signing a TOP request (the hub's own code; the simulator checks with its own).

open.taobao.com, 签名算法: every parameter but ``sign`` (and empty ones, which the official
SDKs leave out), sorted by name, joined as ``name value name value ...`` without separators,
UTF-8; ``md5`` digests ``secret + joined + secret``, ``hmac`` is HMAC-MD5 and ``hmac-sha256``
HMAC-SHA256 keyed with the secret; the digest in upper-case hex.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def top_sign(params: Mapping[str, str], secret: str, sign_method: str) -> str:
    pieces = []
    for name in sorted(params):
        value = params[name]
        if name == "sign" or value == "":
            continue
        pieces.append(name)
        pieces.append(value)
    message = "".join(pieces).encode("utf-8")
    key = secret.encode("utf-8")
    if sign_method == "hmac-sha256":
        digest = hmac.new(key, message, "sha256").digest()
    elif sign_method == "hmac":
        digest = hmac.new(key, message, "md5").digest()
    elif sign_method == "md5":
        digest = hashlib.md5(key + message + key).digest()
    else:
        raise ValueError(f"TOP has no sign_method {sign_method!r}")
    return digest.hex().upper()
