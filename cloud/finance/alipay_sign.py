"""RSA2 signatures of Alipay-shaped requests: SHA256withRSA, PKCS#1 v1.5, base64.

Alipay's open platform signs a request's parameters, all but ``sign`` (and empty ones),
sorted by name and joined as ``k=v`` with ``&`` (cloud/finance/bill_source.py builds that
content); the signature is RSA over SHA-256 with PKCS#1 v1.5 padding, base64 in the
``sign`` parameter, ``sign_type=RSA2``. The app's private key is a PEM file (PKCS#8 or
PKCS#1, as the platform's key tool writes either); Alipay's answers are checked with
Alipay's public key the same way (:func:`verify`).

PKCS#1 v1.5 is deterministic: the same key and content give the same signature, so a
retried request carries the same ``sign``.

**Answers** (Alipay open platform, "自行实现验签" / verifying a synchronous answer): the
body is ``{"<method with _>_response": {...}, "sign": "..."}`` (``error_response`` for an
answer that names no method), and ``sign`` is the RSA2 signature, with *Alipay's* key, of
the node's JSON text **exactly as it stands in the body** — not of the parsed and
re-serialised object, whose spacing, key order and escapes may differ.
:func:`signed_node` finds that text by reading the top-level object token by token (a
search for the key's name could be fooled by the same words inside a value);
:func:`verified_answer` checks it and answers the node.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cloud.errors import N_, ConflictError, InvalidError

#: Alipay asks for 2048-bit keys for RSA2.
MIN_BITS = 2048


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """The app's private key; 422 with a sentence for anything else."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise InvalidError(
            N_("the key file is no unencrypted PEM private key"), "private_key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_BITS:
        raise InvalidError(N_("RSA2 needs an RSA key of at least 2048 bits"), "private_key")
    return key


def signer(pem: bytes) -> Callable[[str], str]:
    """A signer for cloud/finance/bill_source.py's ``AlipayBills(signer=…)``."""
    key = load_private_key(pem)

    def sign(content: str) -> str:
        raw = key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode("ascii")

    return sign


def verify(public_pem: bytes, content: str, sign: str) -> bool:
    """Whether ``sign`` is the RSA2 signature of ``content`` under ``public_pem``."""
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        raw = base64.b64decode(sign, validate=True)
        key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """Alipay's public key (PEM, as the open platform shows it, between BEGIN/END lines)."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise InvalidError(
            N_("the file is no PEM public key (Alipay's public key, 支付宝公钥)"), "public_key"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_BITS:
        raise InvalidError(N_("RSA2 needs an RSA key of at least 2048 bits"), "public_key")
    return key


class Unverified(ConflictError):
    """An answer that does not carry Alipay's signature: not acted on (409)."""


_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def signed_node(body: str) -> tuple[str, str, str | None]:
    """(node name, the node's JSON text as in ``body``, ``sign`` or None) of an answer:
    the first top-level key ending in ``_response``. ValueError for a body that is no JSON
    object or has no such node."""

    def skip(i: int) -> int:
        while i < len(body) and body[i] in _SPACE:
            i += 1
        return i

    i = skip(0)
    if body[i : i + 1] != "{":
        raise ValueError("no object")
    i, found, sign = skip(i + 1), None, None
    while i < len(body) and body[i] != "}":
        key, i = _DECODER.raw_decode(body, i)
        i = skip(i)
        if body[i : i + 1] != ":":
            raise ValueError("no colon")
        start = skip(i + 1)
        value, end = _DECODER.raw_decode(body, start)
        if isinstance(key, str) and key.endswith("_response") and found is None:
            found = (key, body[start:end])
        elif key == "sign" and isinstance(value, str):
            sign = value
        i = skip(end)
        if body[i : i + 1] == ",":
            i = skip(i + 1)
    if found is None:
        raise ValueError("no _response node")
    return found[0], found[1], sign


def verified_answer(public_key: rsa.RSAPublicKey, body: str, node: str) -> dict[str, Any]:
    """The ``node`` (or ``error_response``) of Alipay's answer ``body`` once its signature
    checks out with Alipay's public key. A successful answer (``code`` 10000) must be
    signed; an error answer may come unsigned (Alipay does not sign every refusal, and
    nothing is done on one), but one that carries a sign must carry Alipay's. Anything
    else is :class:`Unverified`: nothing in it is acted on."""
    try:
        name, text, sign = signed_node(body)
        answer = json.loads(text)
    except ValueError:
        raise Unverified(N_("Alipay's answer is no JSON with a %(node)s node"), node=node) from None
    if name not in (node, "error_response") or not isinstance(answer, dict):
        raise Unverified(N_("Alipay's answer is no JSON with a %(node)s node"), node=node)
    if sign is None and answer.get("code") != "10000":
        return answer
    # When the check fails, Alipay's own SDKs check the text once more with each escaped
    # slash (backslash, slash) read as "/": an answer may carry a JSON-escaped slash (in a
    # URL) that the signature was made without.
    ok = sign is not None and (
        _checks(public_key, text, sign)
        or ("\\/" in text and _checks(public_key, text.replace("\\/", "/"), sign))
    )
    if not ok:
        raise Unverified(
            N_(
                "Alipay's answer does not carry a valid signature of Alipay's public key"
                " (RSA2 over %(node)s): it was not trusted and nothing was fetched; check"
                " the public key given, or what sits between the hub and Alipay"
            ),
            node=name,
        )
    return answer


def _checks(key: rsa.RSAPublicKey, content: str, sign: str) -> bool:
    try:
        raw = base64.b64decode(sign, validate=True)
        key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
