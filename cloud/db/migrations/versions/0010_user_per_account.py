"""users: names unique per account and case-insensitive; a token version per user

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05 23:00:00

Usernames were unique over the whole hub, so "username taken" told one seller the names of
another's users (issue 13, finding 3), and case-sensitive ("Admin" beside "admin", finding
10). From here a name is unique within its account and stored in lower case; login names
the account (docs/cloud.md "Users and login").

Existing names are lowercased. Two users of one account whose names differ only by case
would become one name: the migration then refuses, before it changes anything, naming the
users, and an operator renames one (the hub cannot know which of the two people should keep
the name). ``token_version`` starts at 0, the version tokens without the claim are read as.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0011"
branch_labels = None
depends_on = None


class CaseCollision(RuntimeError):
    """Two users of one account whose names differ only by case."""


def upgrade() -> None:
    bind = op.get_bind()
    users = sa.table(
        "app_user",
        sa.column("id", sa.Integer),
        sa.column("account_id", sa.Integer),
        sa.column("username", sa.String),
    )
    rows = bind.execute(sa.select(users.c.id, users.c.account_id, users.c.username)).all()
    # Python's str.lower(), as the application normalises (SQLite's lower() folds only ASCII).
    same: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    for uid, account_id, name in rows:
        same[(account_id, name.lower())].append((uid, name))
    clashes = {k: v for k, v in same.items() if len(v) > 1}
    if clashes:
        lines = [
            f"account {acct}: " + ", ".join(f"{name!r} (id {uid})" for uid, name in sorted(v))
            for (acct, _), v in sorted(clashes.items())
        ]
        raise CaseCollision(
            "migration 0010 makes usernames case-insensitive, but these users of one account "
            "differ only by case: "
            + "; ".join(lines)
            + ". Rename all but one of each (UPDATE app_user SET username = '…' WHERE id = …) "
            "and migrate again; nothing was changed."
        )
    for uid, _, name in rows:
        if name != name.lower():
            bind.execute(users.update().where(users.c.id == uid).values(username=name.lower()))

    # The old constraint's name: none on SQLite when 0003 made it (the naming convention
    # below names the reflected one so the batch, a table copy, can leave it out);
    # app_user_username_key on PostgreSQL, and where a downgrade made it.
    old = next(
        uc["name"]
        for uc in sa.inspect(bind).get_unique_constraints("app_user")
        if uc["column_names"] == ["username"]
    )
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(
            "app_user",
            naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"},
            recreate="always",
        ) as batch_op:
            batch_op.drop_constraint(old or "uq_app_user_username", type_="unique")
            batch_op.add_column(
                sa.Column("token_version", sa.Integer(), server_default="0", nullable=False)
            )
            batch_op.create_unique_constraint(
                "uq_app_user_account_username", ["account_id", "username"]
            )
    else:
        op.drop_constraint(old or "app_user_username_key", "app_user", type_="unique")
        op.add_column(
            "app_user",
            sa.Column("token_version", sa.Integer(), server_default="0", nullable=False),
        )
        op.create_unique_constraint(
            "uq_app_user_account_username", "app_user", ["account_id", "username"]
        )


def downgrade() -> None:
    # Refused by the database if two accounts now share a name (as it must be).
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_constraint("uq_app_user_account_username", type_="unique")
        batch_op.drop_column("token_version")
        batch_op.create_unique_constraint("app_user_username_key", ["username"])
