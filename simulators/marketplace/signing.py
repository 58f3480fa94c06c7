"""Checking a TOP request's signature, as the gateway does (the simulator's own code).

TOP's signing rule (open.taobao.com, "API调用方法详解" / 签名算法): take every request parameter
but ``sign`` (system ones from the query string and the API's own from the form body), sort by
name in byte order, concatenate ``name + value`` for each, UTF-8 encode, then

- ``md5``: MD5 over ``secret + joined + secret``;
- ``hmac``: HMAC-MD5 keyed with the secret over ``joined``;
- ``hmac-sha256``: HMAC-SHA256 keyed with the secret over ``joined``;

and write the digest as upper-case hex. Parameters with an empty value are left out, as the
official SDKs leave them out.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")


def expected_sign(params: Mapping[str, str], secret: str, sign_method: str) -> str:
    joined = "".join(k + v for k, v in sorted(params.items()) if k != "sign" and v != "")
    data = joined.encode("utf-8")
    key = secret.encode("utf-8")
    if sign_method == "md5":
        return hashlib.md5(key + data + key).hexdigest().upper()
    if sign_method == "hmac":
        return hmac.new(key, data, hashlib.md5).hexdigest().upper()
    if sign_method == "hmac-sha256":
        return hmac.new(key, data, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign_method {sign_method!r}")


def sign_ok(params: Mapping[str, str], secret: str) -> bool:
    method = params.get("sign_method", "md5")
    if method not in SIGN_METHODS:
        return False
    given = params.get("sign", "")
    return hmac.compare_digest(given.upper(), expected_sign(params, secret, method))
