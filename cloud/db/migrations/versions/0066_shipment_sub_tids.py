"""channel_shipment.sub_tids: the sub-orders a parcel of a split Taobao trade confirmed

Revision ID: 0066
Revises: 0062
Create Date: 2026-12-07 10:40:00

Issue 16 (docs/channels.md, "Split shipments"): a trade a person split ships as several
parcels, each confirmed with ``is_split=1`` and ``sub_tid`` (taobao.logistics.offline.send).
Which sub-orders a parcel confirms is decided when it is first sent and kept here, so a
retry after a lost answer sends the same part and a later parcel of the trade leaves out
what an earlier one confirmed (cloud/channels/split_shipments.py). Null: the trade whole.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0066"
down_revision = "0062"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("channel_shipment", sa.Column("sub_tids", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("channel_shipment", "sub_tids")
