"""Tables of WeChat Pay bills fetched by the hub and fund-flow bills reconciled
(cloud/finance/wechat_jobs.py, cloud/finance/wechat_fundflow.py; docs/finance.md "WeChat Pay
bills fetched by the hub"); migration 0043_wechat_bills.

``wechat_bill_job``: one per (seller, merchant number): the merchant's API credentials, the
cursor (the last day whose bills are in: advanced in the transaction that imports them),
when the next run is due and the lease of the hub process running it.

``fundflow_bill`` / ``fundflow_row``: a fund-flow bill (资金账单) as imported, and each of its
movements with the trade-bill row it matched (``settlement_row_id``) or why it matched none.
Nothing of a fund-flow bill is ever posted. Nothing doubled, by the database: a file is known
by its SHA-256 per seller, a movement by its 资金流水单号 per seller, and a trade-bill row is
matched by one movement at most (``uq_fundflow_row_match``; NULLs never collide).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db.models import Base
from cloud.db.settlement import BillFile, BillLine


class WechatBillJob(Base):
    """A merchant's daily bill fetch: its credentials, cursor and lease."""

    __tablename__ = "wechat_bill_job"
    __table_args__ = (
        UniqueConstraint("account_id", "mchid", name="uq_wechat_bill_job_mch"),
        Index("ix_wechat_bill_job_due", "enabled", "next_run_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    #: 商户号, and the serial number of the merchant's API certificate (证书序列号).
    mchid: Mapped[str] = mapped_column(String(32))
    serial_no: Mapped[str] = mapped_column(String(64))
    #: ``https://api.mch.weixin.qq.com`` (the simulator's address in tests and the demo).
    api_url: Mapped[str] = mapped_column(String(300))
    #: The merchant's API private key (PEM): sealed with the hub's secret when it has one
    #: (``gjseal1:…``, cloud/finance/sealed.py), else as given.
    private_key: Mapped[str] = mapped_column(Text)
    #: WeChat Pay's public key (微信支付公钥, PEM) and its id: answers are verified with it.
    platform_key: Mapped[str] = mapped_column(Text)
    platform_serial: Mapped[str] = mapped_column(String(64))
    #: The merchant's APIv3 key (32 characters): with it, and no public key given, answers
    #: are verified with WeChat Pay's platform certificates the hub downloads and decrypts
    #: itself (cloud/finance/wechat_certs.py); NULL: the public key above is used. Sealed
    #: like the private key (migration 0054 made room).
    api_v3_key: Mapped[str | None] = mapped_column(String(200))
    #: When the certificates were last downloaded (NULL: never).
    certs_fetched_at: Mapped[datetime | None]
    #: The first day to fetch, and the last day whose bills are in (NULL: none yet).
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date | None] = mapped_column(Date)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    #: The last run: when, and what stopped it (NULL: it went through).
    last_run_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class WechatPlatformCert(Base):
    """One WeChat Pay platform certificate (平台证书) a job downloaded, decrypted and checked
    (cloud/finance/wechat_certs.py): kept until it expires, so an answer signed by the old
    certificate during a rotation still verifies. One row per job and serial number."""

    __tablename__ = "wechat_platform_cert"
    __table_args__ = (UniqueConstraint("job_id", "serial_no", name="uq_wechat_platform_cert"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("account.id"))
    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("wechat_bill_job.id"))
    #: The certificate's serial number (hex, as ``Wechatpay-Serial`` names it).
    serial_no: Mapped[str] = mapped_column(String(64))
    effective_at: Mapped[datetime]
    expire_at: Mapped[datetime]
    #: The decrypted certificate, PEM.
    certificate: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime]


class FundflowBill(BillFile, Base):
    """One imported fund-flow bill (资金账单) of a merchant's day: reconciled, never posted."""

    __tablename__ = "fundflow_bill"
    __table_args__ = (
        UniqueConstraint("account_id", "file_hash", name="uq_fundflow_bill_hash"),
        UniqueConstraint("public_id", name="uq_fundflow_bill_public"),
    )
    matched: Mapped[int] = mapped_column(Integer)


class FundflowRow(BillLine, Base):
    """One movement of a fund-flow bill and the posted trade-bill row it is: ``state``
    "matched" or "unmatched"."""

    __tablename__ = "fundflow_row"
    __table_args__ = (
        UniqueConstraint("account_id", "flow_no", name="uq_fundflow_row_flow"),
        UniqueConstraint("account_id", "settlement_row_id", name="uq_fundflow_row_match"),
        Index("ix_fundflow_row_bill", "bill_id", "line_no"),
    )
    bill_id: Mapped[int] = mapped_column(Integer, ForeignKey("fundflow_bill.id"))
    settlement_row_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("settlement_row.id"))
