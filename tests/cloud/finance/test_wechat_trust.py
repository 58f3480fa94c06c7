"""WeChat Pay platform certificates checked against WeChat Pay's CA (issue 18;
cloud/finance/wechat_trust.py), both databases, and what a person sees of them (the JSON
API's ``/certificates``).

The marketplace simulator has a CA of its own that issues its platform certificates; the
hub is pointed at that CA's file. A certificate that is self-signed, issued by another CA
(one even under the very same name), issued by an expired CA, or checked against a file
that holds no CA, or no file at all, is the job's ``last_error`` sentence (in Chinese on
the page), with nothing stored and nothing imported.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from cloud.db.engine import transaction
from cloud.db.wechat_bills import WechatPlatformCert
from cloud.finance import wechat_certs, wechat_jobs, wechat_trust
from cloud.finance.wechat_pay import Unverified
from cloud.web.i18n import translations
from simulators.marketplace import wechat_v3 as sim_v3
from tests.cloud.finance.test_settlements import DAY, world  # noqa: F401
from tests.cloud.finance.test_wechat_certs import (
    CertWorld,
    again_from_the_start,
    cert_job,
    counting,
    run,
    stored,
    w,  # noqa: F401
)
from tests.cloud.finance.test_wechat_v3 import MORNING, OTHER, PLATFORM, counts, job_row
from tests.support import free_port

NOW = datetime.now(UTC)


def _another_ca(name: str) -> Callable[[CertWorld], Path | None]:
    """The simulator's certificates issued by another CA (``name``), the hub still
    pointed at the simulator's own."""

    def arrange(cw: CertWorld) -> Path | None:
        other = sim_v3.make_ca(NOW - timedelta(days=1), NOW + timedelta(days=30), name)
        sim_v3.rotate(cw.market, PLATFORM, issuer=other)
        return cw.ca_file

    return arrange


def _self_signed(cw: CertWorld) -> Path | None:
    sim_v3.rotate(cw.market, PLATFORM, issuer="self")
    return cw.ca_file


def _expired_ca(cw: CertWorld) -> Path | None:
    """A CA that expired yesterday issued the certificate, and the hub trusts that CA."""
    old = sim_v3.make_ca(NOW - timedelta(days=400), NOW - timedelta(days=1))
    sim_v3.rotate(cw.market, PLATFORM, issuer=old)
    (cw.ca_file.parent / "old-ca.pem").write_bytes(old[1])
    return cw.ca_file.parent / "old-ca.pem"


def _leaf_as_ca(cw: CertWorld) -> Path | None:
    """The self-signed platform certificate itself put in the CA file: it is no CA."""
    sim_v3.rotate(cw.market, PLATFORM, issuer="self")
    (cw.ca_file.parent / "leaf.pem").write_bytes(cw.market.wechat_certs[-1][2])
    return cw.ca_file.parent / "leaf.pem"


def _no_ca_set(cw: CertWorld) -> Path | None:
    return None


def _garbage_file(cw: CertWorld) -> Path | None:
    (cw.ca_file.parent / "garbage.pem").write_text("not a certificate\n")
    return cw.ca_file.parent / "garbage.pem"


def _missing_file(cw: CertWorld) -> Path | None:
    return cw.ca_file.parent / "absent.pem"


REFUSED: list[tuple[str, Callable[[CertWorld], Path | None], str]] = [
    ("self-signed", _self_signed, "does not chain to the configured CA"),
    ("another CA", _another_ca("Another Root CA"), "does not chain to the configured CA"),
    # Same name as the simulator's CA: only the signature tells them apart.
    ("another CA, same name", _another_ca("Tenpay.com Root CA (simulated)"),
     "does not chain to the configured CA"),
    ("expired CA", _expired_ca, "not now: not trusted"),
    ("a leaf in the CA file", _leaf_as_ca, "is no CA"),
    ("no CA set", _no_ca_set, "GUANJIA_WECHATPAY_CA_BUNDLE"),
    ("a CA file of no certificate", _garbage_file, "holds no certificate"),
    ("a CA file that is not there", _missing_file, "holds no certificate"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "arrange", "sentence"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_certificate_not_chaining_to_the_ca_is_the_jobs_error_and_nothing_is_stored(
    w: CertWorld,  # noqa: F811
    name: str,
    arrange: Callable[[CertWorld], Path | None],
    sentence: str,
) -> None:
    ca = arrange(w)
    job_id = cert_job(w)
    before = counts(w)
    http, asked = counting(w)
    done = run(w, http, ca=ca)
    assert done.error and sentence in done.error and done.days == [], (name, done)
    job = job_row(w, job_id)
    assert sentence in str(job.last_error) and job.last_day is None
    assert job.certs_fetched_at is None and stored(w) == [] and counts(w) == before
    assert not any(p.startswith("/v3/bill") for p in asked), asked  # no bill asked for
    if ca is None or not ca.is_file() or ca.name == "garbage.pem":
        assert asked == []  # refused before WeChat Pay is asked anything
    # The page says it in Chinese (the message id is kept with the error).
    zh = wechat_jobs.error_text(job.last_error, translations("zh_CN").gettext)
    assert zh and zh != wechat_jobs.error_text(job.last_error), zh


def test_the_ca_as_wechat_pays_p7b_is_read_and_the_simulator_serves_its_ca(
    w: CertWorld,  # noqa: F811
) -> None:
    """WeChat Pay publishes its chain as CertTrustChain.p7b (DER PKCS#7): read as it is."""
    served = w.shop.http.get("http://sim/_sim/wechatpay-ca")
    assert served.status_code == 200 and served.content == w.ca_file.read_bytes()
    p7b = w.ca_file.parent / "CertTrustChain.p7b"
    p7b.write_bytes(
        pkcs7.serialize_certificates(
            [x509.load_pem_x509_certificate(served.content)], serialization.Encoding.DER
        )
    )
    cert_job(w)
    done = run(w, ca=p7b)
    assert done.error is None and done.days == [DAY] and len(stored(w)) == 1, done


def test_stored_certificates_are_checked_again_when_the_ca_changes(w: CertWorld) -> None:  # noqa: F811
    """A certificate stored under one CA file is not used once the file names another CA:
    the bill answer's serial is then unknown, the list downloaded once and refused."""
    cert_job(w)
    assert run(w).error is None
    before = counts(w)
    other = w.ca_file.parent / "other.pem"
    other.write_bytes(sim_v3.make_ca(NOW - timedelta(days=1), NOW + timedelta(days=9))[1])
    again_from_the_start(w)
    http, asked = counting(w)
    done = run(w, http, MORNING + timedelta(hours=2), ca=other)
    assert done.error and "does not chain to the configured CA" in done.error, done
    assert asked.count("/v3/certificates") == 1 and counts(w) == before


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: str,
    signer: rsa.RSAPrivateKey,
    ca: bool,
    usage: x509.KeyUsage | None = None,
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        b = b.add_extension(usage, critical=True)
    return b.sign(signer, hashes.SHA256())


def _usage(sign: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(sign, False, True, False, False, cert_sign, cert_sign, False, False)


def test_a_chain_through_an_intermediate_needs_the_root_and_a_signing_leaf() -> None:
    """WeChat Pay's chain may hold an intermediate: the path goes through it to the root;
    the intermediate alone is no anchor; a leaf whose key usage forbids signatures is
    refused (the hub verifies signatures with it)."""
    root_key, mid_key, leaf_key = _key(), _key(), _key()
    root = _cert("Root", root_key, "Root", root_key, True, _usage(False, True))
    mid = _cert("Mid", mid_key, "Root", root_key, True, _usage(False, True))
    leaf = _cert("Leaf", leaf_key, "Mid", mid_key, False, _usage(True, False))
    wechat_trust.check_chain(leaf, "1", [root, mid], NOW)
    with pytest.raises(Unverified, match="does not chain"):
        wechat_trust.check_chain(leaf, "1", [mid], NOW)
    no_sign = _cert("Leaf", leaf_key, "Mid", mid_key, False, _usage(False, False))
    with pytest.raises(Unverified, match="lacks digitalSignature"):
        wechat_trust.check_chain(no_sign, "1", [root, mid], NOW)
    # An issuer with cA but no keyCertSign may not sign certificates (RFC 5280 4.2.1.3).
    mid_no_sign = _cert("Mid", mid_key, "Root", root_key, True, _usage(True, False))
    with pytest.raises(Unverified, match="is no CA"):
        wechat_trust.check_chain(leaf, "1", [root, mid_no_sign], NOW)


def test_certificates_in_the_api_with_their_status_and_no_private_material(
    w: CertWorld,  # noqa: F811
) -> None:
    """``wechat_certs.views`` (the API's and the page's): serial, dates, issuer, SHA-256
    fingerprint and status — current, superseded after a rotation, expired."""
    job_id = cert_job(w)
    assert run(w).error is None
    (first,) = stored(w)
    new = sim_v3.rotate(w.market, OTHER)
    again_from_the_start(w)
    assert run(w, at=MORNING + timedelta(hours=4)).error is None
    with w.hub.factory() as s:
        got = {v.serial_no: v for v in wechat_certs.views(s, w.hub.account_id, job_id, NOW)}
        assert {got[new].status, got[first].status} == {"current"} | {"superseded"}
        assert got[new].status == "current", got
        pem = w.market.wechat_certs[-1][2]
        fp = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex(":").upper()
        assert got[new].fingerprint == fp and len(fp) == 95
        assert got[new].issuer == "CN=Tenpay.com Root CA (simulated),O=Tenpay.com"
        # Another seller sees none of them.
        assert wechat_certs.views(s, w.hub.account_id + 999, job_id, NOW) == []
    with transaction(w.hub.factory) as s:
        row = s.execute(
            select(WechatPlatformCert).where(WechatPlatformCert.serial_no == first)
        ).scalar_one()
        row.expire_at = NOW - timedelta(seconds=1)
    with w.hub.factory() as s:
        got = {v.serial_no: v for v in wechat_certs.views(s, w.hub.account_id, job_id, NOW)}
        assert (got[first].status, got[new].status) == ("expired", "current")


def test_the_simulator_writes_its_ca_at_start_for_the_hub(tmp_path: Path) -> None:
    """``guanjia sim marketplace --wechatpay-ca-file``: the CA it made at start, in PEM, the
    same one ``GET /_sim/wechatpay-ca`` serves (what a demo points the hub's
    GUANJIA_WECHATPAY_CA_BUNDLE at)."""
    port, ca = free_port(), tmp_path / "sim-ca.pem"
    cmd = [sys.executable, "-m", "simulators.cli", "sim", "marketplace", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--no-shopify", "--wechatpay-ca-file", str(ca)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        served = None
        for _ in range(150):
            try:
                served = httpx.get(f"http://127.0.0.1:{port}/_sim/wechatpay-ca", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert served is not None and served.status_code == 200
        assert ca.read_bytes() == served.content
        (root,) = wechat_trust.load_bundle(ca)
        assert root.subject == root.issuer and "Tenpay.com Root CA" in root.subject.rfc4514_string()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
