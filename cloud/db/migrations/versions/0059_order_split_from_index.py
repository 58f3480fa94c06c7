"""sales_order: an index on (account_id, split_from)

Revision ID: 0059
Revises: 0058
Create Date: 2026-12-07 06:05:00

Issue 16 (docs/channels.md "Where Shopify sold it"): an order Shopify split between two
locations is imported as the order and its split halves (``split_from`` = the order's
number, cloud/channels/sold_at.py). The units of a shop's downloaded orders (D of the stock
push, per shop and per location: cloud/channels/stock_figures.py ``held_units``,
stock_locations.py ``held_at``), a shipment confirmation, and a change of the trade (cancel,
refund, address, a moved fulfillment order: cloud/channels/changes.py) find the halves by
``split_from``, which no index served: each such read scanned the account's orders.
"""

from __future__ import annotations

from alembic import op

revision = "0059"
down_revision = "0058"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_order_split_from", "sales_order", ["account_id", "split_from"])


def downgrade() -> None:
    op.drop_index("ix_order_split_from", table_name="sales_order")
