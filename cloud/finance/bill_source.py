"""Where settlement bills come from: a small port and its Alipay adapter.

:class:`BillSource` is what the import needs: the bill of one day as the file's bytes.
:class:`AlipayBills` is the one adapter, for Alipay's open platform: ``POST`` the gateway
with ``method=alipay.data.dataservice.bill.downloadurl.query`` and ``biz_content``
``{"bill_type": "signcustomer", "bill_date": "yyyy-MM-dd"}`` (the account-flow bill,
账务明细), read ``bill_download_url`` from
``alipay_data_dataservice_bill_downloadurl_query_response`` (``code`` 10000), then ``GET``
that URL for the zip. A ``code`` other than 10000 is a sentence with Alipay's ``sub_code``
and ``sub_msg``; ``isp.bill_not_exist`` (the day is not over, or there is no bill) says so.

Alipay signs requests with RSA2 (SHA256withRSA over the sorted parameters): the adapter
takes a ``signer`` for it (cloud/finance/alipay_sign.py makes one from the app's private
key); without one the request goes unsigned, which only the simulator accepts. Alipay
signs its answers with its own key: given Alipay's public key (``alipay_public_key``,
required with a signer) the adapter acts only on an answer whose signature over the
``…_response`` node checks out (alipay_sign.verified_answer); the download address comes
from that verified node, so the file is the one Alipay named.

No state is kept: fetching a day again fetches the same file, which the import refuses
by its hash (cloud/finance/settlements.py), so a retry never posts twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Protocol

import httpx

from cloud.errors import N_, ConflictError, InvalidError
from cloud.finance import alipay_sign
from cloud.orders.audit_rules import CHINA

METHOD = "alipay.data.dataservice.bill.downloadurl.query"
RESPONSE = METHOD.replace(".", "_") + "_response"


class BillSource(Protocol):
    def fetch(self, day: date) -> bytes:
        """The bill of ``day`` (the file's bytes: a zip or a CSV)."""
        ...


class Unavailable(ConflictError):
    """The platform could not be reached or answered something that is no bill (409: try
    again later)."""


class AlipayBills:
    def __init__(
        self,
        http: httpx.Client,
        gateway: str,
        app_id: str,
        app_auth_token: str = "",
        signer: Callable[[str], str] | None = None,
        now: Callable[[], datetime] | None = None,
        alipay_public_key: bytes | None = None,
    ) -> None:
        if signer is not None and alipay_public_key is None:
            # Signed requests go to the real Alipay, whose answers must be verified.
            raise InvalidError(
                N_(
                    "give Alipay's public key (支付宝公钥) with the app's private key: "
                    "Alipay's answers are verified with it"
                ),
                "public_key",
            )
        self.http, self.gateway, self.app_id = http, gateway, app_id
        self.app_auth_token, self.signer = app_auth_token, signer
        self.public_key = (
            alipay_sign.load_public_key(alipay_public_key) if alipay_public_key else None
        )
        self.now = now or (lambda: datetime.now(CHINA))

    def fetch(self, day: date) -> bytes:
        params = {
            "app_id": self.app_id,
            "method": METHOD,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": self.now().astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(
                {"bill_type": "signcustomer", "bill_date": day.isoformat()}, separators=(",", ":")
            ),
        }
        if self.app_auth_token:
            params["app_auth_token"] = self.app_auth_token
        if self.signer is not None:
            # The signed content: every parameter but sign, sorted, as k=v joined by &.
            content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v)
            params["sign"] = self.signer(content)
        try:
            r = self.http.post(self.gateway, data=params, timeout=30)
            if self.public_key is not None:
                answer = alipay_sign.verified_answer(self.public_key, r.text, RESPONSE)
            else:
                answer = r.json()[RESPONSE]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            raise Unavailable(
                N_("Alipay's gateway answered no bill address; try again later")
            ) from None
        if answer.get("code") != "10000":
            raise InvalidError(
                N_("Alipay has no bill of %(day)s: %(code)s %(sub_code)s %(sub_msg)s"),
                "date",
                day=day.isoformat(),
                code=answer.get("code", "?"),
                sub_code=answer.get("sub_code", ""),
                sub_msg=answer.get("sub_msg", ""),
            )
        url = answer.get("bill_download_url")
        try:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise KeyError("bill_download_url")
            got = self.http.get(url, timeout=120)
            got.raise_for_status()
        # InvalidURL and ValueError: an address httpx cannot read (seen fuzzing, issue 19).
        except (httpx.HTTPError, httpx.InvalidURL, KeyError, ValueError):
            raise Unavailable(
                N_("the bill of %(day)s could not be downloaded; try again later"),
                day=day.isoformat(),
            ) from None
        return got.content
