"""Merchant secrets sealed at rest (issue 18): a WeChat Pay bill job's API private key and
APIv3 key are kept in the database encrypted with the hub's secret, never in plain text,
when the hub has one (setting ``GUANJIA_SECRETS_KEY``; docs/finance.md "Keys at rest").

AES-256-GCM (NIST SP 800-38D) through the ``cryptography`` package's ``AESGCM``: a fresh
96-bit random nonce per value (§8.2.2: random nonces are safe far beyond the number of
values a hub seals), the 16-byte tag refusing any change. The associated data names the
row and the column (``wechat_bill_job:<account>:<mchid>:<column>``), so a sealed value
copied into another job or another column does not open. Stored as
``gjseal1:<base64(nonce ‖ ciphertext ‖ tag)>``; a value without that prefix is a plain one
written before the hub had a secret: read as it is, and sealed at the job's next run
(cloud/finance/wechat_jobs.py ``client_for``).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloud.errors import N_, ConflictError

PREFIX = "gjseal1:"
SETTING = "GUANJIA_SECRETS_KEY"


class Unopened(ConflictError):
    """A sealed value that does not open with the hub's secret (409: nothing done)."""


def parse_key(text: str) -> bytes:
    """The hub's secret: 32 bytes, base64 (``openssl rand -base64 32``)."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(f"{SETTING} is 32 random bytes in base64 (openssl rand -base64 32)")
    return key


class Box:
    """Seals and opens one hub's secrets."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plain: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plain.encode(), context.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, context: str) -> str:
        """Raises InvalidTag, binascii.Error or ValueError for what does not open."""
        raw = base64.b64decode(stored[len(PREFIX) :], validate=True)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()


def box_of(setting: str | None) -> Box | None:
    """The hub's box, None when the setting is unset (keys then stored as given)."""
    return None if not setting else Box(parse_key(setting))


def is_sealed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(PREFIX)


def context(account_id: int, mchid: str, column: str) -> str:
    return f"wechat_bill_job:{account_id}:{mchid}:{column}"


def open_value(box: Box | None, stored: str, where: str) -> str:
    """The plain value of ``stored`` (a plain one as it is)."""
    if not is_sealed(stored):
        return stored
    if box is None:
        raise Unopened(
            N_(
                "the merchant's keys are stored encrypted and the hub has no secret to open "
                "them (%(setting)s unset): nothing was fetched"
            ),
            setting=SETTING,
        )
    try:
        return box.open(stored, where)
    except (InvalidTag, binascii.Error, ValueError):
        raise Unopened(
            N_(
                "the merchant's keys do not open with the hub's secret (%(setting)s): it was "
                "changed, or the row was; nothing was fetched"
            ),
            setting=SETTING,
        ) from None
