"""import jobs: how many of the applied rows were new SKUs (the dashboard's import report
shows created and updated rows)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 04:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: jobs finished before this migration never counted them.
    op.add_column("import_job", sa.Column("rows_created", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("import_job", "rows_created")
