"""Nuonuo open platform request signing, as the gateway checks it (the simulator's own code).

The rule, from Nuonuo's SDKs (open.nuonuo.com "API调用" / SDK ``getSign``; also the public
node client arion/node-nuonuo, read for the order of the fields): for a request to
``/open/v1/services?senid=…&nonce=…&timestamp=…&appkey=…`` the string signed is

    a=services&l=v1&p=open&k=<appkey>&i=<senid>&n=<nonce>&t=<timestamp>&f=<raw body>

(the path's parts, last first, then the query's values, then the body exactly as sent),
HMAC-SHA1 keyed with the app secret, base64-encoded, sent in the ``X-Nuonuo-Sign`` header.
The body enters as the bytes received: a JSON re-serialised by the server would differ in
spacing or key order from what the client signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(
    path: str, appkey: str, senid: str, nonce: str, timestamp: str, body: bytes, secret: str
) -> str:
    parts = path.strip("/").split("/")  # ["open", "v1", "services"]
    if len(parts) != 3:
        raise ValueError(f"not a service path: {path!r}")
    p, l_, a = parts
    head = f"a={a}&l={l_}&p={p}&k={appkey}&i={senid}&n={nonce}&t={timestamp}&f=".encode()
    digest = hmac.new(secret.encode("utf-8"), head + body, hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_ok(
    path: str,
    appkey: str,
    senid: str,
    nonce: str,
    timestamp: str,
    body: bytes,
    secret: str,
    given: str,
) -> bool:
    return hmac.compare_digest(given, sign(path, appkey, senid, nonce, timestamp, body, secret))
