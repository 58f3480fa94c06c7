"""WeChat Pay bill jobs' keys sealed at rest: room for a sealed APIv3 key

Revision ID: 0053
Revises: 0052
Create Date: 2026-12-07 03:00:00

Issue 18 (docs/finance.md "Keys at rest"): with the hub's secret (``GUANJIA_SECRETS_KEY``)
a job's private key and APIv3 key are stored AES-256-GCM sealed (cloud/finance/sealed.py):
``gjseal1:`` and the base64 of nonce, ciphertext and tag — 92 characters for a 32-character
APIv3 key, more than ``api_v3_key``'s 64. The private key's column is TEXT already. Rows are
not rewritten here: a migration has no secret; a plain row is sealed at its job's next run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0053"
down_revision = "0052"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("wechat_bill_job") as batch:
        batch.alter_column(
            "api_v3_key", type_=sa.String(200), existing_type=sa.String(64), existing_nullable=True
        )


def downgrade() -> None:
    # A sealed key does not fit back: downgrading needs the jobs' keys plain (64 at most).
    with op.batch_alter_table("wechat_bill_job") as batch:
        batch.alter_column(
            "api_v3_key", type_=sa.String(64), existing_type=sa.String(200), existing_nullable=True
        )
