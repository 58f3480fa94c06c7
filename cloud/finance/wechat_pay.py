"""WeChat Pay API v3 bills, fetched by the hub (issue 18): the trade bill (交易账单) and the
fund-flow bill (资金账单) of a merchant's day.

The shape (pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter4_2_6.shtml "申请交易账单",
chapter4_2_7.shtml "申请资金账单", chapter7_3_9.shtml "下载账单"):

1. ``GET /v3/bill/tradebill?bill_date=yyyy-MM-dd&bill_type=ALL&tar_type=GZIP`` (or
   ``/v3/bill/fundflowbill?bill_date=…&account_type=BASIC&tar_type=GZIP``) answers
   ``{"hash_type": "SHA1", "hash_value": "<hex>", "download_url": "…"}``, signed;
2. ``GET download_url`` (signed like any v3 request) answers the file; that answer carries
   no signature ("该接口响应的信息请求头中不包含微信接口响应的签名值"), so the file is trusted
   by its SHA1, which must be ``hash_value`` — of the bill *unpacked* ("原始账单(gzip需要解压缩)
   的摘要值").

**Requests are signed** (pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_0.shtml
"签名生成"): the merchant's API private key signs, SHA256withRSA (PKCS#1 v1.5), the five
lines ``METHOD\\nURL path and query\\ntimestamp\\nnonce\\nbody\\n`` (the body empty for a GET);
the header is ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
signature="…",timestamp="…",serial_no="…"`` with the serial number of the merchant's API
certificate.

**Answers are verified** ("签名验证", wechatpay4_1.shtml): WeChat Pay signs with its platform
key the three lines ``Wechatpay-Timestamp\\nWechatpay-Nonce\\nbody\\n`` (the body exactly as
received) and sends the signature in ``Wechatpay-Signature``, naming its key in
``Wechatpay-Serial``. A 2xx answer without a valid signature is forged or tampered ("应答
成功但没有签名的, 应视为伪造"): nothing in it is acted on. A timestamp more than five
minutes off is refused too (the docs' advice against a replayed answer). The platform key
is the "微信支付公钥" (or the platform certificate's key) the merchant downloads; its id is
``platform_serial``.

Errors come as 4xx/5xx with ``{"code", "message"}``: ``NO_STATEMENT_EXIST`` (no bill of that
day: not made yet, which is before about 10:00 the next day, or a day without trades) and
``STATEMENT_CREATING`` are :class:`NotReady`; ``SIGN_ERROR`` (401) says our key or serial
is wrong; 5xx and the network are :class:`Unavailable` (try later).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cloud.errors import N_, ConflictError, InvalidError
from cloud.finance import bill_checks
from cloud.finance.bill_source import Unavailable

SCHEME = "WECHATPAY2-SHA256-RSA2048"
#: How far an answer's Wechatpay-Timestamp may be from our clock.
SKEW = timedelta(minutes=5)
#: WeChat Pay keeps bills for three months ("仅支持三个月内的账单下载申请").
KEPT = timedelta(days=90)
KINDS = {"trade": "/v3/bill/tradebill", "fundflow": "/v3/bill/fundflowbill"}


class NotReady(ConflictError):
    """WeChat Pay has no bill of that day (yet): 409, ask again later."""


class Unverified(ConflictError):
    """An answer or a file that is not WeChat Pay's as it says: not acted on (409)."""


class Certificates(Protocol):
    """Where the platform certificates come from when no public key is given
    (cloud/finance/wechat_certs.py ``Store``)."""

    def key(self, serial: str, now: datetime) -> rsa.RSAPublicKey | None: ...


@functools.lru_cache(maxsize=64)
def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """The merchant's API key (loaded once per key: loading checks its arithmetic, which
    takes a while)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise InvalidError(
            N_("the key file is no unencrypted PEM private key"), "private_key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise InvalidError(N_("RSA2 needs an RSA key of at least 2048 bits"), "private_key")
    return key


@functools.lru_cache(maxsize=64)
def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """WeChat Pay's public key (微信支付公钥, PEM), or the key of its platform certificate."""
    try:
        if b"CERTIFICATE" in pem:
            from cryptography import x509

            key: Any = x509.load_pem_x509_certificate(pem).public_key()
        else:
            key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise InvalidError(
            N_("the file is no PEM public key or certificate of WeChat Pay (微信支付公钥)"),
            "public_key",
        ) from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise InvalidError(N_("RSA2 needs an RSA key of at least 2048 bits"), "public_key")
    return key


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    raw = key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def request_message(method: str, target: str, timestamp: str, nonce: str, body: str) -> str:
    """The five lines a request's signature covers (签名串)."""
    return f"{method}\n{target}\n{timestamp}\n{nonce}\n{body}\n"


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The three lines an answer's signature covers, the body as received."""
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


def authorization(
    key: rsa.RSAPrivateKey, mchid: str, serial_no: str, method: str, target: str, *, now: int
) -> str:
    nonce = secrets.token_hex(16).upper()
    signature = sign(key, request_message(method, target, str(now), nonce, ""))
    return (
        f'{SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{now}",serial_no="{serial_no}"'
    )


def check_day(day: date, today: date) -> None:
    """A bill's day: over (before today, China time) and within the three months kept."""
    if day >= today:
        raise InvalidError(
            N_("%(day)s is not over yet: WeChat Pay makes a day's bill the next morning"),
            "date",
            day=day.isoformat(),
        )
    if day < today - KEPT:
        raise InvalidError(
            N_("%(day)s is more than three months ago: WeChat Pay keeps bills three months"),
            "date",
            day=day.isoformat(),
        )


class WechatPayBills:
    """A merchant's bills over API v3. ``base_url`` is ``https://api.mch.weixin.qq.com`` (the
    simulator's address in tests); ``now`` gives the clock the signatures and the checks use."""

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        mchid: str,
        serial_no: str,
        private_key: bytes,
        platform_key: bytes,
        platform_serial: str = "",
        now: Callable[[], datetime] | None = None,
        certificates: Certificates | None = None,
    ) -> None:
        self.http, self.base, self.mchid, self.serial_no = (
            http,
            base_url.rstrip("/"),
            mchid,
            serial_no,
        )
        self.key = load_private_key(private_key)
        # With certificates, the key is the one of the certificate the answer names.
        self.platform_key = load_public_key(platform_key) if certificates is None else None
        self.platform_serial = platform_serial
        self.certificates = certificates
        self.now = now or (lambda: datetime.now(UTC))

    def get(self, url: str, limit: int | None = None) -> httpx.Response:
        """A signed GET. With ``limit``, at most ``limit + 1`` bytes of the body are read
        (a larger answer is not held in memory: the caller sees it is over its limit)."""
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        stamp = int(self.now().timestamp())
        headers = {
            "Authorization": authorization(
                self.key, self.mchid, self.serial_no, "GET", target, now=stamp
            ),
            "Accept": "application/json",
            "User-Agent": "guanjia-hub",
        }
        try:
            if limit is None:
                return self.http.get(url, headers=headers, timeout=60)
            with self.http.stream("GET", url, headers=headers, timeout=60) as r:
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        break
                kept = {
                    k: v
                    for k, v in r.headers.items()
                    if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
                }
                return httpx.Response(r.status_code, headers=kept, content=bytes(body[: limit + 1]))
        except httpx.HTTPError:
            raise Unavailable(N_("WeChat Pay could not be reached; try again later")) from None

    def _verified(self, r: httpx.Response) -> None:
        serial = r.headers.get("Wechatpay-Serial", "")
        if self.certificates is None:
            assert self.platform_key is not None
            if self.platform_serial and serial != self.platform_serial:
                self.verify_answer(r, None)
            self.verify_answer(r, self.platform_key)
            return
        key = self.certificates.key(serial, self.now()) if serial else None
        if key is None:
            raise Unverified(
                N_(
                    "WeChat Pay's answer is signed by certificate %(serial)s, which is not "
                    "among the platform certificates WeChat Pay lists: it was not trusted and "
                    "nothing was fetched"
                ),
                serial=serial[:70] or "-",
            )
        self.verify_answer(r, key)

    def verify_answer(self, r: httpx.Response, key: rsa.RSAPublicKey | None) -> None:
        """The answer's signature by ``key`` (None: refused), and its timestamp."""
        h = r.headers
        stamp, nonce = h.get("Wechatpay-Timestamp", ""), h.get("Wechatpay-Nonce", "")
        signature = h.get("Wechatpay-Signature", "")
        ok = (
            key is not None
            and bool(stamp and nonce and signature)
            and verify(key, answer_message(stamp, nonce, r.content), signature)
        )
        if not ok:
            raise Unverified(
                N_(
                    "WeChat Pay's answer does not carry a valid signature of WeChat Pay's "
                    "public key (Wechatpay-Signature): it was not trusted and nothing was "
                    "fetched; check the public key given, or what sits between the hub and "
                    "WeChat Pay"
                )
            )
        try:
            when = datetime.fromtimestamp(int(stamp), UTC)
        except (ValueError, OverflowError, OSError):
            when = datetime.fromtimestamp(0, UTC)
        if abs(when - self.now()) > SKEW:
            raise Unverified(
                N_(
                    "WeChat Pay's answer is dated %(stamp)s, more than five minutes from the "
                    "hub's clock: it was not trusted (a replayed answer, or the hub's clock is off)"
                ),
                stamp=stamp,
            )

    def fetch(self, kind: str, day: date, today: date) -> bytes:
        """The bill (``trade`` or ``fundflow``) of ``day`` unpacked, its SHA1 checked."""
        check_day(day, today)
        query = {"bill_date": day.isoformat()}
        query |= {"bill_type": "ALL"} if kind == "trade" else {"account_type": "BASIC"}
        query["tar_type"] = "GZIP"
        r = self.get(f"{self.base}{KINDS[kind]}?{urlencode(query)}")
        if r.status_code >= 500:
            raise Unavailable(N_("WeChat Pay could not be reached; try again later"))
        if r.status_code != 200:
            self._refused(r, day)
        self._verified(r)
        try:
            answer = json.loads(r.content)
            url, hash_type = str(answer["download_url"]), str(answer["hash_type"])
            expected = str(answer["hash_value"]).lower()
        except (ValueError, KeyError, TypeError):
            raise Unverified(N_("WeChat Pay's answer names no bill to download")) from None
        if hash_type != "SHA1":
            raise Unverified(
                N_("WeChat Pay's answer names hash %(hash)s, not SHA1"), hash=hash_type[:20]
            )
        got = self.get(url)
        if got.status_code != 200:
            raise Unavailable(
                N_("the bill of %(day)s could not be downloaded; try again later"),
                day=day.isoformat(),
            )
        data = bill_checks.gunzipped(got.content)
        actual = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if actual != expected:
            raise Unverified(
                N_(
                    "the bill downloaded for %(day)s has SHA1 %(actual)s where WeChat Pay "
                    "said %(expected)s: it was changed on the way or cut short; nothing was "
                    "imported"
                ),
                day=day.isoformat(),
                actual=actual,
                expected=expected[:40],
            )
        return data

    def _refused(self, r: httpx.Response, day: date) -> None:
        try:
            body = r.json()
            code, message = str(body.get("code", "")), str(body.get("message", ""))
        except (ValueError, AttributeError):
            code, message = "", r.text[:200]
        if code in ("NO_STATEMENT_EXIST", "STATEMENT_CREATING"):
            raise NotReady(
                N_("WeChat Pay has no bill of %(day)s yet (%(code)s)"),
                day=day.isoformat(),
                code=code,
            )
        raise InvalidError(
            N_("WeChat Pay refused the bill of %(day)s: %(status)s %(code)s %(message)s"),
            "date",
            day=day.isoformat(),
            status=r.status_code,
            code=code[:64],
            message=message[:200],
        )
