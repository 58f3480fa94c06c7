"""WeChat Pay platform certificates downloaded, decrypted and rotated by the hub

Revision ID: 0052
Revises: 0051
Create Date: 2026-12-07 00:00:00

Issue 18 (docs/finance.md "Platform certificates"): a WeChat Pay bill job may be given the
merchant's APIv3 key instead of WeChat Pay's public key; the hub then downloads the platform
certificates itself (``GET /v3/certificates``), decrypts them with that key and keeps each
until it expires (``wechat_platform_cert``). ``wechat_bill_job`` gets the key
(``api_v3_key``, NULL for the jobs verified with a public key, all of them before this) and
when the certificates were last downloaded (``certs_fetched_at``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("wechat_bill_job", sa.Column("api_v3_key", sa.String(64), nullable=True))
    op.add_column(
        "wechat_bill_job",
        sa.Column("certs_fetched_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "wechat_platform_cert",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("wechat_bill_job.id"), nullable=False),
        sa.Column("serial_no", sa.String(64), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certificate", sa.Text(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("job_id", "serial_no", name="uq_wechat_platform_cert"),
    )


def downgrade() -> None:
    op.drop_table("wechat_platform_cert")
    with op.batch_alter_table("wechat_bill_job") as batch:
        batch.drop_column("certs_fetched_at")
        batch.drop_column("api_v3_key")
