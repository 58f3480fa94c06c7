"""RSA2 signatures of Alipay-shaped requests: SHA256withRSA, PKCS#1 v1.5, base64.

Alipay's open platform signs a request's parameters, all but ``sign`` (and empty ones),
sorted by name and joined as ``k=v`` with ``&`` (cloud/finance/bill_source.py builds that
content); the signature is RSA over SHA-256 with PKCS#1 v1.5 padding, base64 in the
``sign`` parameter, ``sign_type=RSA2``. The app's private key is a PEM file (PKCS#8 or
PKCS#1, as the platform's key tool writes either); Alipay's answers are checked with
Alipay's public key the same way (:func:`verify`).

PKCS#1 v1.5 is deterministic: the same key and content give the same signature, so a
retried request carries the same ``sign``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cloud.errors import N_, InvalidError

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
