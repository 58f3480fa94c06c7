"""node owner (enrollment, claim codes); public ids of users, warehouses and tasks

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-05 23:00:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Tables whose serial ``id`` the API showed; it now shows ``public_id`` (cloud/db/models.py
#: ``new_public_id`` says why).
_PUBLIC = ("app_user", "warehouse", "task")


def upgrade() -> None:
    op.create_table(
        "node_owner",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("claim_hash", sa.String(length=64), nullable=True),
        sa.Column("claim_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by", sa.String(length=80), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("node_id"),
        sa.UniqueConstraint("claim_hash"),
    )
    op.create_index("ix_node_owner_account_id", "node_owner", ["account_id"], unique=False)
    # A node assigned before this revision is its assigning account's: that account chose it
    # (the squat this revision ends could have happened before it; docs/sync.md tells how an
    # operator checks and moves a node with `guanjia node transfer`).
    op.execute(
        "INSERT INTO node_owner (node_id, account_id, changed_by, changed_at) "
        "SELECT node_id, account_id, 'migration 0011: assigned', changed_at FROM node_assignment"
    )

    conn = op.get_bind()
    for table in _PUBLIC:
        op.add_column(table, sa.Column("public_id", sa.String(length=36), nullable=True))
        t = sa.table(table, sa.column("id", sa.Integer()), sa.column("public_id", sa.String()))
        ids = conn.execute(sa.select(t.c.id)).scalars().all()
        if ids:
            conn.execute(
                t.update().where(t.c.id == sa.bindparam("rid")).values(public_id=sa.bindparam("p")),
                [{"rid": i, "p": str(uuid.uuid4())} for i in ids],
            )
        with op.batch_alter_table(table) as batch:
            batch.alter_column("public_id", existing_type=sa.String(length=36), nullable=False)
        op.create_index(f"ix_{table}_public_id", table, ["public_id"], unique=True)


def downgrade() -> None:
    for table in reversed(_PUBLIC):
        op.drop_index(f"ix_{table}_public_id", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("public_id")
    op.drop_index("ix_node_owner_account_id", table_name="node_owner")
    op.drop_table("node_owner")
