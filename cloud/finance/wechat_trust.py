"""WeChat Pay platform certificates (平台证书) checked against WeChat Pay's CA (issue 18;
docs/finance.md "Platform certificates").

Decrypting a certificate with the APIv3 key proves only that someone holding that key made
it (cloud/finance/wechat_certs.py). WeChat Pay's own certificate downloader says what more
to check (github.com/wechatpay-apiv3/CertificateDownloader, README "安全性说明"): the issuer
is **Tenpay.com Root CA**, and the certificate verifies along the trust chain WeChat Pay
publishes as ``CertTrustChain.p7b`` (wx.gtimg.com/mch/files/CertTrustChain.p7b; converted
with ``openssl pkcs7 -print_certs -in CertTrustChain.p7b -inform der -out
CertTrustChain.pem`` and checked with ``openssl verify -CAfile CertTrustChain.pem``).

The hub ships no CA of its own — the setting ``GUANJIA_WECHATPAY_CA_BUNDLE`` names the
file (PEM certificates, or the ``.p7b`` as WeChat Pay publishes it) — and does what
``openssl verify`` does, with the ``cryptography`` package (RFC 5280 §6, the parts a fixed
bundle needs):

- each step's signature checks out with its issuer's key (``verify_directly_issued_by``),
  the issuer found by name among the bundle's certificates;
- every certificate on the path is valid now, the CA's included;
- each issuer is a CA: basicConstraints ``cA`` true (§4.2.1.9) and, when it has a key
  usage, ``keyCertSign`` (§4.2.1.3);
- the platform certificate, when it has a key usage, allows ``digitalSignature``: the hub
  verifies answers' signatures with it (pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/
  wechatpay4_2.shtml "签名验证");
- the path ends at a self-signed certificate of the bundle (a root), at most
  :data:`MAX_DEPTH` steps up.

No bundle set, an unreadable one or a certificate not chaining is refused with a sentence,
nothing stored (the caller's ``Unverified`` is the job's ``last_error``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import pkcs7

from cloud.errors import N_
from cloud.finance.wechat_pay import Unverified

#: Intermediates between a platform certificate and the root (WeChat Pay's chain has one).
MAX_DEPTH = 4
#: A bundle larger than this is not read (WeChat Pay's chain is a few kilobytes).
MAX_BUNDLE = 1024 * 1024
SETTING = "GUANJIA_WECHATPAY_CA_BUNDLE"


def load_bundle(path: Path | None) -> list[x509.Certificate]:
    """The CA certificates of the file the hub's setting names."""
    if path is None:
        raise Unverified(
            N_(
                "no CA is set for WeChat Pay's platform certificates (%(setting)s: a PEM "
                "file of WeChat Pay's trust chain, CertTrustChain): they cannot be trusted, "
                "nothing was downloaded or stored"
            ),
            setting=SETTING,
        )
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BUNDLE + 1)
        if len(raw) > MAX_BUNDLE:
            raise ValueError("too large")
        certs = _certificates(raw)
    except (OSError, ValueError):
        certs = []
    if not certs:
        raise Unverified(
            N_(
                "the CA file %(path)s for WeChat Pay's platform certificates cannot be read "
                "or holds no certificate: nothing was downloaded or stored"
            ),
            path=str(path)[-200:],
        )
    return certs


def _certificates(raw: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" in raw:
        return x509.load_pem_x509_certificates(raw)
    if b"-----BEGIN PKCS7-----" in raw:
        return pkcs7.load_pem_pkcs7_certificates(raw)
    return pkcs7.load_der_pkcs7_certificates(raw)  # the .p7b as WeChat Pay serves it


def _issued(cert: x509.Certificate, by: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(by)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return basic.ca
    return basic.ca and usage.key_cert_sign


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()[:200] or "-"


def check_chain(
    cert: x509.Certificate, serial: str, bundle: Sequence[x509.Certificate], now: datetime
) -> None:
    """Refuse ``cert`` unless it chains to a root of ``bundle`` (see the module)."""
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.digital_signature:
        raise Unverified(
            N_(
                "WeChat Pay's platform certificate %(serial)s may not be used to verify "
                "signatures (its key usage lacks digitalSignature): not trusted, nothing stored"
            ),
            serial=serial,
        )
    current = cert
    for _ in range(MAX_DEPTH + 1):
        parent = next(
            (c for c in bundle if c.subject == current.issuer and _issued(current, c)), None
        )
        if parent is None:
            raise Unverified(
                N_(
                    "WeChat Pay's platform certificate %(serial)s does not chain to the "
                    "configured CA (issued by %(issuer)s, which no certificate of the CA "
                    "file signs as that name): not trusted, nothing stored"
                ),
                serial=serial,
                issuer=_name(current.issuer),
            )
        if not _is_ca(parent):
            raise Unverified(
                N_(
                    "certificate %(ca)s of the CA file is no CA (its basic constraints or key "
                    "usage do not allow signing certificates): platform certificate "
                    "%(serial)s not trusted, nothing stored"
                ),
                ca=_name(parent.subject),
                serial=serial,
            )
        start, end = parent.not_valid_before_utc, parent.not_valid_after_utc
        if not start <= now < end:
            raise Unverified(
                N_(
                    "the CA certificate %(ca)s behind platform certificate %(serial)s is "
                    "valid from %(start)s to %(end)s, not now: not trusted, nothing stored"
                ),
                ca=_name(parent.subject),
                serial=serial,
                start=start.isoformat(timespec="seconds"),
                end=end.isoformat(timespec="seconds"),
            )
        if parent.subject == parent.issuer:  # a root: the bundle's word is the trust
            return
        current = parent
    raise Unverified(
        N_(
            "WeChat Pay's platform certificate %(serial)s is more than %(n)s certificates "
            "from a root of the CA file: not trusted, nothing stored"
        ),
        serial=serial,
        n=MAX_DEPTH,
    )
