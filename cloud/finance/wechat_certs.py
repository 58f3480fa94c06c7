"""WeChat Pay platform certificates (平台证书), downloaded, decrypted and rotated by the hub
(issue 18; docs/finance.md "Platform certificates").

A job given the merchant's APIv3 key (and no WeChat Pay public key) verifies WeChat Pay's
answers with the platform certificates it downloads itself, as WeChat Pay's docs describe
(pay.weixin.qq.com/wiki/doc/apiv3/apis/wechatpay5_1.shtml "下载平台证书",
wechatpay/wechatpay4_2.shtml "证书和回调报文解密", wechatpay/wechatpay5_0.shtml "平台证书更新指引"):

- ``GET /v3/certificates``, signed like every v3 request, answers ``{"data": [{"serial_no",
  "effective_time", "expire_time", "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM",
  "nonce", "associated_data", "ciphertext"}}]}``; the ciphertext (base64, the 16-byte GCM
  tag at its end) opens with the APIv3 key (32 bytes) as the AES-256 key, ``nonce`` and
  ``associated_data`` as given, into the certificate's PEM.
- **What is trusted, and why.** The answer is signed like any other (``Wechatpay-Signature``,
  ``Wechatpay-Serial``). A certificate already stored verifies it when the serial names
  one; on the first download nothing is stored yet, so the answer is verified with the
  certificate *it* carries under that serial, after it is decrypted. That is the bootstrap
  WeChat Pay documents (its certificate downloader checks the answer with the certificate it
  just decrypted): the trust is the APIv3 key's. Only WeChat Pay and the merchant know that
  key, and AES-GCM's tag refuses a ciphertext made or changed without it, so a certificate
  that decrypts came from WeChat Pay; the signature then proves the whole answer (the list,
  the dates) is the one that certificate's owner signed. The key alone would let whoever
  holds it make certificates, so each one must also chain to WeChat Pay's CA, the file the
  hub's setting ``wechatpay_ca_bundle`` names (cloud/finance/wechat_trust.py): no file set,
  no certificate is trusted. Stored certificates are checked against it again whenever they
  are read, so a changed CA file takes effect at once.
- **Rotation.** WeChat Pay issues a new certificate before the old one expires and lists
  both for a while; answers switch to the new one at some moment. The hub keeps every
  certificate until its ``expire_time`` (answers signed by the old one still verify), picks
  the one ``Wechatpay-Serial`` names, downloads again once a day, when the newest stored one
  expires within :data:`RENEW_BEFORE`, and — once per run, so a forged serial cannot make
  it ask in a loop — when an answer names a serial it does not have.

Refused with a sentence (:class:`cloud.finance.wechat_pay.Unverified`, kept as the job's
``last_error``), nothing stored: a ciphertext that does not open (tampered, or the wrong
APIv3 key), another algorithm, a certificate that is expired or not yet valid or whose
serial is not the one listed or that does not chain to the CA, a signature that does not check out, a serial no certificate
has, an answer over :data:`MAX_ANSWER` bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.wechat_bills import WechatBillJob, WechatPlatformCert
from cloud.errors import N_, InvalidError
from cloud.finance import wechat_pay, wechat_trust
from cloud.finance.bill_source import Unavailable
from cloud.finance.wechat_pay import Unverified

PATH = "/v3/certificates"
#: An answer larger than this is refused unread (a real one is a few kilobytes per certificate).
MAX_ANSWER = 64 * 1024
#: At most this many certificates in one answer (WeChat Pay lists one or two).
MAX_CERTS = 8
#: Download again once a day, and when the newest certificate expires within this.
RENEW_EVERY = timedelta(days=1)
RENEW_BEFORE = timedelta(days=30)
#: The APIv3 key: 32 characters (WeChat Pay: 32 letters and digits).
_API_V3_KEY = re.compile(r"[!-~]{32}")
_SERIAL = re.compile(r"[0-9A-Fa-f]{1,64}")


def check_api_v3_key(key: str) -> None:
    if not _API_V3_KEY.fullmatch(key):
        raise InvalidError(
            N_("the APIv3 key (APIv3密钥) is 32 letters and digits; %(n)s characters were given"),
            "api_v3_key",
            n=len(key),
        )


def decrypt(api_v3_key: bytes, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """AEAD_AES_256_GCM as WeChat Pay uses it: the key is the APIv3 key itself."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        return AESGCM(api_v3_key).decrypt(nonce.encode(), raw, associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError):
        raise Unverified(
            N_(
                "a platform certificate WeChat Pay sent does not decrypt with the APIv3 key "
                "given: the key is wrong, or the answer was changed on the way; nothing was "
                "stored"
            )
        ) from None


@dataclass(frozen=True)
class Cert:
    serial_no: str
    effective_at: datetime
    expire_at: datetime
    pem: str


def _when(text: object) -> datetime:
    value = datetime.fromisoformat(str(text))
    if value.tzinfo is None:
        raise ValueError("no offset")
    return value.astimezone(UTC)


def parse(
    body: bytes, api_v3_key: bytes, now: datetime, bundle: Sequence[x509.Certificate]
) -> list[Cert]:
    """The certificates of an answer, each decrypted and checked: valid now and chaining
    to a root of ``bundle`` (cloud/finance/wechat_trust.py)."""
    try:
        data = json.loads(body)["data"]
        if not isinstance(data, list) or not 0 < len(data) <= MAX_CERTS:
            raise ValueError("data")
        items: list[dict[str, Any]] = [dict(d) for d in data]
    except (ValueError, KeyError, TypeError):
        raise Unverified(
            N_("WeChat Pay's certificate answer lists no certificates (data): nothing stored")
        ) from None
    out = []
    for item in items:
        try:
            serial = str(item["serial_no"])
            effective, expire = _when(item["effective_time"]), _when(item["expire_time"])
            enc = dict(item["encrypt_certificate"])
            algorithm = str(enc["algorithm"])
            nonce, ad, ct = (
                str(enc["nonce"]),
                str(enc.get("associated_data", "")),
                enc["ciphertext"],
            )
        except (ValueError, KeyError, TypeError):
            raise Unverified(
                N_("a certificate in WeChat Pay's answer lacks a field or a date: nothing stored")
            ) from None
        if not _SERIAL.fullmatch(serial):
            raise Unverified(
                N_("WeChat Pay's answer names certificate serial %(serial)r, which is no serial"),
                serial=serial[:70],
            )
        if algorithm != "AEAD_AES_256_GCM":
            raise Unverified(
                N_(
                    "WeChat Pay's certificate is encrypted with %(algorithm)s, not AEAD_AES_256_GCM"
                ),
                algorithm=algorithm[:40],
            )
        pem = decrypt(api_v3_key, nonce, ad, str(ct))
        try:
            cert = x509.load_pem_x509_certificate(pem)
            key = cert.public_key()
        except ValueError:
            raise Unverified(
                N_("certificate %(serial)s decrypted to something that is no certificate"),
                serial=serial,
            ) from None
        if f"{cert.serial_number:X}" != serial.upper().lstrip("0"):
            raise Unverified(
                N_("certificate %(serial)s carries another serial number inside: not trusted"),
                serial=serial,
            )
        if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
            raise Unverified(
                N_("certificate %(serial)s holds no RSA key of 2048 bits or more"), serial=serial
            )
        # The dates inside the certificate win over the list's, and both must hold now.
        effective = max(effective, cert.not_valid_before_utc)
        expire = min(expire, cert.not_valid_after_utc)
        if not effective <= now < expire:
            raise Unverified(
                N_(
                    "WeChat Pay's platform certificate %(serial)s is valid from %(start)s to "
                    "%(end)s, not now: it was not trusted and nothing was stored"
                ),
                serial=serial,
                start=effective.isoformat(timespec="seconds"),
                end=expire.isoformat(timespec="seconds"),
            )
        wechat_trust.check_chain(cert, serial, bundle, now)
        out.append(Cert(serial.upper(), effective, expire, pem.decode("ascii")))
    return out


def public_key(pem: str) -> rsa.RSAPublicKey:
    return wechat_pay.load_public_key(pem.encode())


def download(
    bills: wechat_pay.WechatPayBills,
    api_v3_key: bytes,
    stored: dict[str, str],
    bundle: Sequence[x509.Certificate],
) -> list[Cert]:
    """The certificates WeChat Pay lists now, the answer verified (see the module)."""
    r = bills.get(bills.base + PATH, limit=MAX_ANSWER)
    if r.status_code >= 500:
        raise Unavailable(N_("WeChat Pay could not be reached; try again later"))
    if len(r.content) > MAX_ANSWER:
        raise Unverified(
            N_(
                "WeChat Pay's certificate answer is more than %(limit)s bytes: not read, "
                "nothing stored"
            ),
            limit=MAX_ANSWER,
        )
    if r.status_code != 200:
        try:
            code = str(r.json().get("code", ""))[:64]
        except (ValueError, AttributeError):
            code = ""
        raise InvalidError(
            N_("WeChat Pay refused the certificate download: %(status)s %(code)s"),
            "api_v3_key",
            status=r.status_code,
            code=code,
        )
    certs = parse(r.content, api_v3_key, bills.now(), bundle)
    serial = r.headers.get("Wechatpay-Serial", "").upper()
    pem = stored.get(serial) or next((c.pem for c in certs if c.serial_no == serial), None)
    if pem is None:
        raise Unverified(
            N_(
                "WeChat Pay's certificate answer is signed by certificate %(serial)s, which "
                "is neither stored nor in the answer: not trusted, nothing stored"
            ),
            serial=serial[:70] or "-",
        )
    bills.verify_answer(r, public_key(pem))
    return certs


class Store:
    """A job's certificates in the database (``wechat_platform_cert``): what
    :class:`cloud.finance.wechat_pay.WechatPayBills` asks for a ``Wechatpay-Serial``."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        job_id: int,
        account_id: int,
        api_v3_key: str,
        ca_bundle: Path | None,
    ) -> None:
        self.factory, self.job_id, self.account_id = factory, job_id, account_id
        self.api_v3_key = api_v3_key.encode()
        # Read once per run; no file set is refused before anything is asked of WeChat Pay.
        self.bundle = wechat_trust.load_bundle(ca_bundle)
        self.bills: wechat_pay.WechatPayBills | None = None
        self.refreshed = False

    def _rows(self, s: Session, now: datetime) -> list[WechatPlatformCert]:
        return list(
            s.execute(
                select(WechatPlatformCert)
                .where(
                    WechatPlatformCert.job_id == self.job_id,
                    WechatPlatformCert.expire_at > now,
                    WechatPlatformCert.effective_at <= now,
                )
                .order_by(WechatPlatformCert.expire_at)
            ).scalars()
        )

    def stored(self, now: datetime) -> dict[str, str]:
        """The stored certificates that chain to the CA now: one stored before the CA
        file changed (or before chains were checked) and not chaining is not used."""
        with self.factory() as s:
            rows = {c.serial_no: c.certificate for c in self._rows(s, now)}
        return {serial: pem for serial, pem in rows.items() if self._chains(serial, pem, now)}

    def _chains(self, serial: str, pem: str, now: datetime) -> bool:
        try:
            cert = x509.load_pem_x509_certificate(pem.encode())
            wechat_trust.check_chain(cert, serial, self.bundle, now)
        except (ValueError, Unverified):
            return False
        return True

    def key(self, serial: str, now: datetime) -> rsa.RSAPublicKey | None:
        """The key of the valid certificate ``serial``; an unknown serial downloads the list
        once (the first time only: bounded), then asks again."""
        pem = self.stored(now).get(serial.upper())
        if pem is None and not self.refreshed:
            self.refresh(now)
            pem = self.stored(now).get(serial.upper())
        return None if pem is None else public_key(pem)

    def due(self, now: datetime) -> bool:
        """Whether to download: never yet, a day since, or the newest expires soon."""
        with self.factory() as s:
            job = s.get(WechatBillJob, self.job_id)
            assert job is not None
            rows = self._rows(s, now)
            fetched = job.certs_fetched_at
        if not rows or fetched is None or now - fetched >= RENEW_EVERY:
            return True
        return rows[-1].expire_at - now < RENEW_BEFORE and now - fetched >= timedelta(hours=1)

    def refresh(self, now: datetime) -> list[Cert]:
        """Download, check and store the certificates; drop the expired ones."""
        assert self.bills is not None
        self.refreshed = True
        certs = download(self.bills, self.api_v3_key, self.stored(now), self.bundle)
        with transaction(self.factory) as s:
            # The expired ones go first: one listed again is stored anew, with its dates.
            s.execute(
                delete(WechatPlatformCert).where(
                    WechatPlatformCert.job_id == self.job_id, WechatPlatformCert.expire_at <= now
                )
            )
            have = {
                c.serial_no: c
                for c in s.execute(
                    select(WechatPlatformCert).where(WechatPlatformCert.job_id == self.job_id)
                ).scalars()
            }
            for c in certs:
                row = have.get(c.serial_no)
                if row is None:
                    s.add(
                        WechatPlatformCert(
                            account_id=self.account_id,
                            job_id=self.job_id,
                            serial_no=c.serial_no,
                            effective_at=c.effective_at,
                            expire_at=c.expire_at,
                            certificate=c.pem,
                            fetched_at=now,
                        )
                    )
                elif row.certificate != c.pem:
                    raise Unverified(
                        N_(
                            "WeChat Pay sent another certificate under serial %(serial)s than "
                            "the one stored: not trusted, nothing stored"
                        ),
                        serial=c.serial_no,
                    )
            s.execute(
                update(WechatBillJob)
                .where(WechatBillJob.id == self.job_id)
                .values(certs_fetched_at=now)
                .execution_options(synchronize_session=False)
            )
        return certs


def certificates(session: Session, account_id: int, job_id: int) -> list[WechatPlatformCert]:
    """A job's stored certificates, newest first (the job's page)."""
    return list(
        session.execute(
            select(WechatPlatformCert)
            .where(WechatPlatformCert.account_id == account_id, WechatPlatformCert.job_id == job_id)
            .order_by(WechatPlatformCert.expire_at.desc(), WechatPlatformCert.id.desc())
        ).scalars()
    )


@dataclass(frozen=True)
class CertView:
    """What a person sees of a stored certificate (the API and the job's page): never the
    key material, only what identifies it."""

    serial_no: str
    effective_at: datetime
    expire_at: datetime
    #: The issuer's name (RFC 4514) and SHA-256 of the DER, ``AB:CD:…`` as ``openssl x509
    #: -fingerprint -sha256`` prints it; None for a PEM that does not load.
    issuer: str | None
    fingerprint: str | None
    #: current (the newest valid one), superseded (valid, a newer one exists: WeChat Pay
    #: may still sign with it during a rotation) or expired.
    status: str


def views(session: Session, account_id: int, job_id: int, now: datetime) -> list[CertView]:
    """A job's certificates as :class:`CertView`, newest first."""
    rows = certificates(session, account_id, job_id)
    valid = [r for r in rows if r.effective_at <= now < r.expire_at]
    newest = max(valid, key=lambda r: (r.effective_at, r.id)) if valid else None
    out = []
    for r in rows:
        try:
            cert = x509.load_pem_x509_certificate(r.certificate.encode())
            issuer: str | None = cert.issuer.rfc4514_string()
            fingerprint: str | None = cert.fingerprint(hashes.SHA256()).hex(":").upper()
        except ValueError:
            issuer = fingerprint = None
        status = "expired" if r.expire_at <= now else "current" if r is newest else "superseded"
        out.append(CertView(r.serial_no, r.effective_at, r.expire_at, issuer, fingerprint, status))
    return out
