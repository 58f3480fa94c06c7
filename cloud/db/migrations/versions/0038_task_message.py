"""tasks: a detail's message id and parameters, so the pages say it in their language

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-06 14:40:00

Issue 15 ("zh_CN complete"): ``task.detail`` kept only an English sentence. ``message`` is
its gettext message id and ``params`` (JSON) what goes into it (cloud/tasks.py); ``detail``
stays, the English the API answers. Both new columns are nullable: a task opened before this
revision has neither and is shown as its English detail, so existing rows stay readable.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("task", sa.Column("message", sa.Text(), nullable=True))
    op.add_column("task", sa.Column("params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.drop_column("params")
        batch.drop_column("message")
