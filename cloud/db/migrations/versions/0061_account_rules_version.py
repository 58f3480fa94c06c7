"""account.rules_version: a counter of the changes of the account's rules and carriers

Revision ID: 0061
Revises: 0060
Create Date: 2026-12-07 07:05:00

Issue 20 (docs/benchmarks.md, "Re-save without reloading the rules"): a manual re-save
(保存) loaded the account's carriers and current rules and validated every condition again,
about a fifth of its cost. Each hub process now keeps them per account and reads only this
counter, which cloud/orders/audit_rules.py ``put_rule`` and ``put_carrier`` raise in the
transaction that changes them, so an edit made through one process is used by the next
request of every other.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "account",
        sa.Column("rules_version", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+): a batch copy of ``account`` would break the
    # foreign keys of every table that names it.
    op.drop_column("account", "rules_version")
