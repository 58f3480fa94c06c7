"""WeChat Pay API v3 bills of the simulated marketplace: the trade bill (交易账单) and the
fund-flow bill (资金账单) of a shop's day, served as WeChat Pay serves them.

The shape (pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter4_2_6.shtml "申请交易账单",
chapter4_2_7.shtml "申请资金账单", chapter7_3_9.shtml "下载账单"):

- ``GET /v3/bill/tradebill?bill_date=yyyy-MM-dd&bill_type=ALL[&tar_type=GZIP]`` and
  ``GET /v3/bill/fundflowbill?bill_date=…[&account_type=BASIC][&tar_type=GZIP]`` answer
  ``{"hash_type": "SHA1", "hash_value": <SHA1 of the bill unpacked>, "download_url": …}``;
  a day not over answers 400 ``NO_STATEMENT_EXIST``, a bad date or type 400
  ``PARAM_ERROR``/``INVALID_REQUEST``;
- ``GET /v3/billdownload/file?token=…`` answers the file (gzip when asked), unsigned as
  WeChat Pay's is.

Every request must carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",
nonce_str="…",signature="…",timestamp="…",serial_no="…"``: SHA256withRSA by the merchant's
key (registered with ``POST /_sim/wechat-merchants {"mchid", "serial_no", "public_key"}``)
over ``METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n``, the timestamp within five minutes of
the wall clock; anything else is 401 ``SIGN_ERROR``. Answers of the two bill calls and
errors are signed as WeChat Pay signs them: ``Wechatpay-Signature`` is SHA256withRSA by the
simulator's own "WeChat Pay" key over ``timestamp\\nnonce\\nbody\\n``, with
``Wechatpay-Timestamp``, ``Wechatpay-Nonce`` and ``Wechatpay-Serial`` (the key's id, served
with its public half at ``GET /_sim/wechatpay-public-key``).

The trade bill is simulators/marketplace/wechat_bill.py's; the fund-flow bill moves the
same money on the account's side: each payment in (业务类型 交易), its fee out (扣除交易手续费),
each refund out (退款) and its fee given back (退还交易手续费), with the account's balance
after each, from 0.00 at the shop's first payment. ``mchid`` picks the shop whose merchant
number it is (wechat_bill.merchant_of).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import re
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal
from urllib.parse import parse_qsl, urlencode

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from simulators.marketplace.bill import _start_of, flows
from simulators.marketplace.clock import GMT8
from simulators.marketplace.market import Market, Shop
from simulators.marketplace.wechat_bill import _fee, merchant_of, text

FUND_HEADER = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,账户结余（元）,"
    "资金变更提交申请人,备注,业务凭证号"
)
FUND_SUMMARY = "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额"
SKEW_S = 300
_AUTH = re.compile(r'(\w+)="([^"]*)"')
Answer = tuple[int, list[tuple[str, str]], bytes]


def platform_key(market: Market) -> rsa.RSAPrivateKey:
    """The simulated WeChat Pay's own key (2048-bit RSA, made once per market)."""
    if market.wechat_platform_key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        market.wechat_platform_key = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    loaded = serialization.load_pem_private_key(market.wechat_platform_key, password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def platform_serial(market: Market) -> str:
    """The id of that key, as WeChat Pay names its public key (PUB_KEY_ID_…)."""
    pub = (
        platform_key(market)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "PUB_KEY_ID_" + hashlib.sha256(pub).hexdigest()[:24].upper()


def public_pem(market: Market) -> bytes:
    return (
        platform_key(market)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(
    not_before: datetime, not_after: datetime, name: str = "Tenpay.com Root CA (simulated)"
) -> tuple[bytes, bytes]:
    """A root CA (its key PEM, its self-signed certificate PEM): basicConstraints cA and
    keyCertSign, as a CA certificate must have (RFC 5280 §4.2.1.3, §4.2.1.9)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _pem_key(key), cert.public_bytes(serialization.Encoding.PEM)


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def ca(market: Market) -> tuple[bytes, bytes]:
    """The market's CA, made on first use (valid from a day ago for ten years)."""
    if market.wechat_ca is None:
        now = datetime.fromtimestamp(time.time(), UTC)
        market.wechat_ca = make_ca(now - timedelta(days=1), now + timedelta(days=3650))
    return market.wechat_ca


def make_certificate(
    key_pem: bytes,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    issuer: tuple[bytes, bytes] | None,
) -> bytes:
    """A platform certificate of ``key_pem`` issued by the CA ``issuer`` (key PEM,
    certificate PEM), for signatures and encryption as WeChat Pay's are
    (wechatpay4_2.shtml 验签, wechatpay4_3.shtml 敏感信息加密); ``None``: self-signed
    (what the hub must refuse)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com (simulated)"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com platform certificate"),
        ]
    )
    signer, issuer_name = key, name
    if issuer is not None:
        ca_key = serialization.load_pem_private_key(issuer[0], password=None)
        assert isinstance(ca_key, rsa.RSAPrivateKey)
        signer, issuer_name = ca_key, x509.load_pem_x509_certificate(issuer[1]).subject
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def rotate(
    market: Market,
    key_pem: bytes | None = None,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    issuer: tuple[bytes, bytes] | Literal["market", "self"] = "market",
) -> str:
    """A new platform certificate (a new key unless one is given), valid from a day ago
    for five years unless told, issued by the market's CA (``issuer`` "market"), another CA
    (its key and certificate PEM) or nobody ("self": self-signed); from now on it signs.
    The older ones stay listed. Its serial."""
    if key_pem is None:
        key_pem = _pem_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    by = ca(market) if issuer == "market" else None if issuer == "self" else issuer
    now = datetime.fromtimestamp(time.time(), UTC)
    serial = secrets.randbits(152) | (1 << 156)  # 40 hex digits, as WeChat Pay's are
    cert = make_certificate(
        key_pem,
        serial,
        not_before or now - timedelta(days=1),
        not_after or now + timedelta(days=5 * 365),
        by,
    )
    market.wechat_certs.append((f"{serial:X}", key_pem, cert))
    return f"{serial:X}"


def _signer(market: Market) -> tuple[rsa.RSAPrivateKey, str]:
    """The newest platform certificate's key and serial (one made of the platform key
    first)."""
    if not market.wechat_certs:
        key = platform_key(market).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        rotate(market, key)
    serial, key_pem, _ = market.wechat_certs[-1]
    loaded = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded, serial


def certificates(market: Market, mchid: str) -> Answer:
    """``GET /v3/certificates`` (pay.weixin.qq.com/wiki/doc/apiv3/apis/wechatpay5_1.shtml):
    every listed certificate encrypted with the merchant's APIv3 key (AEAD_AES_256_GCM)."""
    v3 = market.wechat_v3_keys.get(mchid)
    if v3 is None:
        return _error(market, 400, "INVALID_REQUEST", "未设置APIv3密钥", mchid)
    _signer(market)
    data = []
    for serial, _, cert_pem in market.wechat_certs:
        loaded = x509.load_pem_x509_certificate(cert_pem)
        nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay's nonces
        sealed = AESGCM(v3).encrypt(nonce.encode(), cert_pem, b"certificate")
        data.append(
            {
                "serial_no": serial,
                "effective_time": loaded.not_valid_before_utc.astimezone(GMT8).isoformat(),
                "expire_time": loaded.not_valid_after_utc.astimezone(GMT8).isoformat(),
                "encrypt_certificate": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "nonce": nonce,
                    "associated_data": "certificate",
                    "ciphertext": base64.b64encode(sealed).decode(),
                },
            }
        )
    return _signed(market, 200, json.dumps({"data": data}).encode(), mchid)


def fundflow_text(market: Market, shop: Shop, day: date) -> str:
    """The day's fund-flow bill of the shop's basic account (基本账户)."""
    start, end = _start_of(day), _start_of(day + timedelta(days=1))
    balance = Decimal("0.00")
    lines = [FUND_HEADER]
    n_in = n_out = 0
    total_in = total_out = Decimal("0.00")
    seq = 0
    for f in flows(market, shop, end):
        if f.kind not in ("sale", "refund"):
            continue
        on = datetime.fromtimestamp(int(f.at), GMT8).date()
        stamp = datetime.fromtimestamp(int(f.at), GMT8).strftime("%Y-%m-%d %H:%M:%S")
        if f.kind == "sale":
            business = f"4200{on:%Y%m%d}{f.tid % 10**16:016d}"
            moves = [("交易", "收入", f.amount), ("扣除交易手续费", "支出", _fee(f.amount))]
        else:
            back = -f.amount
            business = f"5030{on:%Y%m%d}{f.tid % 10**17:017d}"
            moves = [("退款", "支出", back), ("退还交易手续费", "收入", _fee(back))]
        for kind, direction, amount in moves:
            if not amount:
                continue
            seq += 1
            balance += amount if direction == "收入" else -amount
            if f.at < start:
                continue
            if direction == "收入":
                n_in, total_in = n_in + 1, total_in + amount
            else:
                n_out, total_out = n_out + 1, total_out + amount
            flow_no = f"{on:%Y%m%d}{seq:010d}{f.tid % 10**8:08d}"
            cells = [stamp, business, flow_no, kind, kind, direction, f"{amount:.2f}"]
            cells += [f"{balance:.2f}", "system", "", business]
            lines.append(",".join("`" + c for c in cells))
    lines.append(FUND_SUMMARY)
    totals = [str(n_in + n_out), str(n_in), f"{total_in:.2f}", str(n_out), f"{total_out:.2f}"]
    lines.append(",".join("`" + c for c in totals))
    return "\r\n".join(lines) + "\r\n"


def _signed(market: Market, status: int, body: bytes, mchid: str = "") -> Answer:
    """Signed by the public key, or by the newest platform certificate for a merchant
    registered with an APIv3 key."""
    stamp, nonce = str(int(time.time())), secrets.token_hex(16)
    message = stamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
    if mchid in market.wechat_v3_keys:
        key, serial = _signer(market)
    else:
        key, serial = platform_key(market), platform_serial(market)
    sig = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Wechatpay-Timestamp", stamp),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Signature", base64.b64encode(sig).decode()),
        ("Wechatpay-Serial", serial),
        ("Request-ID", secrets.token_hex(8)),
    ]
    return status, headers, body


def _error(market: Market, status: int, code: str, message: str, mchid: str = "") -> Answer:
    body = json.dumps({"code": code, "message": message}, ensure_ascii=False).encode()
    return _signed(market, status, body, mchid)


def _merchant(market: Market, verb: str, target: str, authorization: str) -> str | None:
    """The merchant number of a correctly signed request; None for anything else."""
    scheme, _, rest = authorization.partition(" ")
    if scheme != "WECHATPAY2-SHA256-RSA2048":
        return None
    a: dict[str, str] = dict(_AUTH.findall(rest))
    mchid = a.get("mchid", "")
    known = market.wechat_keys.get(mchid)
    if known is None or a.get("serial_no") != known[0]:
        return None
    try:
        stamp = int(a.get("timestamp", ""))
        raw = base64.b64decode(a.get("signature", ""), validate=True)
        key = serialization.load_pem_public_key(known[1])
        assert isinstance(key, rsa.RSAPublicKey)
        message = f"{verb}\n{target}\n{stamp}\n{a.get('nonce_str', '')}\n\n"
        key.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature, binascii.Error, AssertionError):
        return None
    if abs(time.time() - stamp) > SKEW_S:
        return None
    return mchid


def handle(
    market: Market, verb: str, path: str, query: str, authorization: str, base: str
) -> Answer | None:
    """The v3 bill paths; None for any other path."""
    if path not in (
        "/v3/bill/tradebill",
        "/v3/bill/fundflowbill",
        "/v3/billdownload/file",
        "/v3/certificates",
    ):
        return None
    if verb != "GET":
        return _error(market, 405, "INVALID_REQUEST", "only GET")
    target = path + (f"?{query}" if query else "")
    mchid = _merchant(market, verb, target, authorization)
    if mchid is None:
        return _error(market, 401, "SIGN_ERROR", "签名错误")
    if path == "/v3/certificates":
        return certificates(market, mchid)
    shop = next((s for s in market.shops.values() if merchant_of(s) == mchid), None)
    params = dict(parse_qsl(query, keep_blank_values=True))
    if path == "/v3/billdownload/file":
        return _download(market, mchid, shop, params.get("token", ""))
    kind = "trade" if path.endswith("tradebill") else "fundflow"
    try:
        day = datetime.strptime(params.get("bill_date", ""), "%Y-%m-%d").date()
    except ValueError:
        return _error(market, 400, "PARAM_ERROR", "bill_date 格式错误", mchid)
    if kind == "trade" and params.get("bill_type", "ALL") != "ALL":
        return _error(market, 400, "PARAM_ERROR", "bill_type 不支持", mchid)
    if kind == "fundflow" and params.get("account_type", "BASIC") != "BASIC":
        return _error(market, 400, "PARAM_ERROR", "account_type 不支持", mchid)
    tar = params.get("tar_type", "")
    if tar not in ("", "GZIP"):
        return _error(market, 400, "PARAM_ERROR", "tar_type 不支持", mchid)
    if shop is None or _start_of(day + timedelta(days=1)) > market.now:
        return _error(market, 400, "NO_STATEMENT_EXIST", "账单不存在", mchid)
    data = _bill(market, shop, kind, day)
    token = f"{kind}-{day:%Y%m%d}-{tar or 'RAW'}"
    body = {
        "hash_type": "SHA1",
        "hash_value": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        "download_url": f"{base}/v3/billdownload/file?{urlencode({'token': token})}",
    }
    return _signed(market, 200, json.dumps(body).encode(), mchid)


def _bill(market: Market, shop: Shop, kind: str, day: date) -> bytes:
    made = text(market, shop, day) if kind == "trade" else fundflow_text(market, shop, day)
    return made.encode("utf-8")


def _download(market: Market, mchid: str, shop: Shop | None, token: str) -> Answer:
    m = re.fullmatch(r"(trade|fundflow)-(\d{8})-(GZIP|RAW)", token)
    if m is None or shop is None:
        return _error(market, 400, "INVALID_REQUEST", "token 无效")
    day = datetime.strptime(m.group(2), "%Y%m%d").date()
    data = _bill(market, shop, m.group(1), day)
    if m.group(3) == "GZIP":
        data = gzip.compress(data, mtime=0)
    # The file's answer carries no Wechatpay-Signature (chapter7_3_9: 跳过验签).
    return 200, [("Content-Type", "application/octet-stream")], data


def register(market: Market, args: dict[str, object]) -> dict[str, str]:
    """``POST /_sim/wechat-merchants``: a merchant's API key (its public half)."""
    mchid, serial = str(args["mchid"]), str(args["serial_no"])
    pem = str(args["public_key"]).encode()
    serialization.load_pem_public_key(pem)  # ValueError: a 400
    market.wechat_keys[mchid] = (serial, pem)
    v3 = str(args.get("api_v3_key", "")).encode()
    if v3:
        if len(v3) != 32:
            raise ValueError("api_v3_key is 32 characters")
        market.wechat_v3_keys[mchid] = v3
    return {"mchid": mchid, "platform_serial": platform_serial(market)}
