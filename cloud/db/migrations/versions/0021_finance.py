"""finance: accounts, periods, journal entries and legs, balances, item cost; the guards

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 04:20:00

The database refuses what must never be in the books (issue 18, docs/finance.md), whoever
writes — our code, a script, a person at psql:

* an entry whose legs do not sum to zero per currency, or with fewer than two legs;
* UPDATE or DELETE of a posted entry or of its legs (corrections are reversing entries);
* an entry dated into a closed period; reopening a closed period.

PostgreSQL checks the balance with a DEFERRABLE INITIALLY DEFERRED constraint trigger, as
django-hordak does (its migrations 0002/0052): the legs of an entry are inserted one
statement after another, so the check can only run when they are all there, at COMMIT.
django-hordak fires it per leg; here it fires once per entry, and a statement-level trigger
on the legs refuses any leg whose entry was inserted by an earlier transaction (so no
entry's legs can change after its own check).

SQLite has no deferred triggers. There an entry is born a draft (``posted = 0``), its legs
are inserted, and the UPDATE that sets ``posted = 1`` is checked: the legs must balance and
be at least two. Nothing counts a draft (balances, trial balance, export read posted rows
only), a posted entry takes no more legs, and posted rows never change. The amounts on
SQLite are stored with NUMERIC affinity (a binary double), so the trigger compares
``round(sum(amount), 2)`` with zero: exact for amounts up to about 10^13 yuan.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(18, 2)

PG = [
    """
    CREATE FUNCTION fin_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        eid integer;
        n integer;
        bad text;
    BEGIN
        eid := NEW.id;
        SELECT coalesce(sum(x.n), 0), string_agg(CASE WHEN x.s <> 0 THEN x.s::text || ' ' || x.currency END, ', ')
          INTO n, bad
          FROM (SELECT currency, sum(amount) AS s, count(*) AS n FROM fin_leg
                 WHERE entry_id = eid GROUP BY currency) AS x;
        IF n < 2 THEN
            RAISE EXCEPTION 'journal entry % has % legs: an entry needs at least two', eid, n
                USING ERRCODE = '23514';
        END IF;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'journal entry % does not balance: its legs sum to % (they must sum to zero in each currency)', eid, bad
                USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER fin_entry_balanced AFTER INSERT ON fin_entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fin_check_balanced()
    """,
    """
    CREATE FUNCTION fin_legs_with_their_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        eid integer;
    BEGIN
        -- Legs are inserted in the transaction that inserted their entry (same xmin), whose
        -- deferred trigger checks them all at COMMIT; a leg for an entry of an earlier
        -- transaction is refused, as on SQLite. One query per statement, not per row. (An
        -- entry inserted inside a savepoint has the subtransaction's xmin: its legs are
        -- refused, on the safe side; the ledger uses no savepoints.)
        SELECT n.entry_id INTO eid FROM new_legs n JOIN fin_entry e ON e.id = n.entry_id
         WHERE e.xmin::text <> (pg_current_xact_id()::text::bigint & 4294967295)::text
         LIMIT 1;
        IF eid IS NOT NULL THEN
            RAISE EXCEPTION 'journal entry % is posted: it takes no more legs (post a new entry)', eid
                USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER fin_leg_with_entry AFTER INSERT ON fin_leg
    REFERENCING NEW TABLE AS new_legs
    FOR EACH STATEMENT EXECUTE FUNCTION fin_legs_with_their_entry()
    """,
    """
    CREATE FUNCTION fin_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% on % refused: posted books never change; post a reversing entry instead', TG_OP, TG_TABLE_NAME
            USING ERRCODE = '23514';
    END $$
    """,
    """
    CREATE TRIGGER fin_entry_immutable BEFORE UPDATE OR DELETE ON fin_entry
    FOR EACH ROW EXECUTE FUNCTION fin_refuse_change()
    """,
    """
    CREATE TRIGGER fin_leg_immutable BEFORE UPDATE OR DELETE ON fin_leg
    FOR EACH ROW EXECUTE FUNCTION fin_refuse_change()
    """,
    """
    CREATE TRIGGER fin_period_immutable BEFORE UPDATE OR DELETE ON fin_period
    FOR EACH ROW EXECUTE FUNCTION fin_refuse_change()
    """,
    """
    CREATE FUNCTION fin_entry_admit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- On PostgreSQL every entry is posted when inserted (its balance is checked at COMMIT).
        IF NOT NEW.posted THEN
            RAISE EXCEPTION 'journal entries are inserted posted on PostgreSQL' USING ERRCODE = '23514';
        END IF;
        IF EXISTS (SELECT 1 FROM fin_period WHERE account_id = NEW.account_id
                   AND period = to_char(NEW.entry_date, 'YYYY-MM')) THEN
            RAISE EXCEPTION 'period % is closed: post into an open period (a reversing entry dated today corrects a closed one)', to_char(NEW.entry_date, 'YYYY-MM')
                USING ERRCODE = '23514';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER fin_entry_admit BEFORE INSERT ON fin_entry
    FOR EACH ROW EXECUTE FUNCTION fin_entry_admit()
    """,
]

_CLOSED = (
    "EXISTS (SELECT 1 FROM fin_period WHERE account_id = NEW.account_id"
    " AND period = strftime('%Y-%m', NEW.entry_date))"
)
_UNBALANCED = (
    "((SELECT count(*) FROM fin_leg WHERE entry_id = NEW.id) < 2 OR EXISTS (SELECT 1 FROM"
    " fin_leg WHERE entry_id = NEW.id GROUP BY currency HAVING round(sum(amount), 2) <> 0))"
)
_POSTED_LEG = "(SELECT posted FROM fin_entry WHERE id = {row}.entry_id) <> 0"


def _abort(name: str, timing: str, when: str, message: str) -> str:
    return (
        f"CREATE TRIGGER {name} {timing} FOR EACH ROW WHEN {when}"
        f" BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )


SQLITE = [
    _abort(
        "fin_entry_draft",
        "BEFORE INSERT ON fin_entry",
        "NEW.posted <> 0",
        "a journal entry is inserted as a draft (posted = 0) and posted after its legs",
    ),
    _abort(
        "fin_entry_open_period",
        "BEFORE INSERT ON fin_entry",
        _CLOSED,
        "the period is closed: post into an open period",
    ),
    _abort(
        "fin_entry_post",
        "BEFORE UPDATE ON fin_entry",
        f"OLD.posted = 0 AND NEW.posted <> 0 AND {_UNBALANCED}",
        "journal entry does not balance: its legs must be two or more and sum to zero"
        " in each currency",
    ),
    _abort(
        "fin_entry_post_period",
        "BEFORE UPDATE ON fin_entry",
        f"OLD.posted = 0 AND {_CLOSED}",
        "the period is closed: post into an open period",
    ),
    _abort(
        "fin_entry_immutable",
        "BEFORE UPDATE ON fin_entry",
        "OLD.posted <> 0",
        "UPDATE of a posted journal entry refused: post a reversing entry instead",
    ),
    _abort(
        "fin_entry_undeletable",
        "BEFORE DELETE ON fin_entry",
        "OLD.posted <> 0",
        "DELETE of a posted journal entry refused: post a reversing entry instead",
    ),
    _abort(
        "fin_leg_into_posted",
        "BEFORE INSERT ON fin_leg",
        _POSTED_LEG.format(row="NEW"),
        "a posted journal entry takes no more legs",
    ),
    _abort(
        "fin_leg_immutable",
        "BEFORE UPDATE ON fin_leg",
        _POSTED_LEG.format(row="OLD"),
        "UPDATE of a posted leg refused: post a reversing entry instead",
    ),
    _abort(
        "fin_leg_undeletable",
        "BEFORE DELETE ON fin_leg",
        _POSTED_LEG.format(row="OLD"),
        "DELETE of a posted leg refused: post a reversing entry instead",
    ),
    _abort(
        "fin_period_immutable",
        "BEFORE UPDATE ON fin_period",
        "1",
        "a closed period stays closed",
    ),
    _abort(
        "fin_period_undeletable",
        "BEFORE DELETE ON fin_period",
        "1",
        "a closed period stays closed",
    ),
]


def upgrade() -> None:
    op.create_table(
        "fin_account",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "code"),
        sa.UniqueConstraint("id", "account_id", "currency", name="uq_fin_account_id_currency"),
        sa.CheckConstraint(
            "type IN ('asset', 'liability', 'equity', 'income', 'expense')",
            name="ck_fin_account_type",
        ),
    )
    op.create_table(
        "fin_period",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "period"),
    )
    op.create_table(
        "fin_entry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("source_doc", sa.String(64), nullable=False),
        sa.Column("event_kind", sa.String(32), nullable=False),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("memo", sa.String(200), nullable=False),
        sa.Column("posted", sa.Boolean(), nullable=False),
        sa.Column("reverses_id", sa.Integer(), sa.ForeignKey("fin_entry.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "source_doc", "event_kind", name="uq_fin_entry_natural"),
        sa.UniqueConstraint("id", "account_id", name="uq_fin_entry_id_account"),
    )
    op.create_table(
        "fin_leg",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("fin_account_id", sa.Integer(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["entry_id", "account_id"],
            ["fin_entry.id", "fin_entry.account_id"],
            name="fk_fin_leg_entry",
        ),
        sa.ForeignKeyConstraint(
            ["fin_account_id", "account_id", "currency"],
            ["fin_account.id", "fin_account.account_id", "fin_account.currency"],
            name="fk_fin_leg_account",
        ),
    )
    op.create_index("ix_fin_leg_entry", "fin_leg", ["entry_id"])
    op.create_table(
        "fin_balance",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("fin_account_id", sa.Integer(), sa.ForeignKey("fin_account.id"), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("legs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("fin_account_id", "period"),
    )
    op.create_table(
        "fin_item_cost",
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("account.id"), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Numeric(18, 4), nullable=False),
        sa.Column("value", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "sku"),
    )
    statements = PG if op.get_bind().dialect.name == "postgresql" else SQLITE
    for sql in statements:
        op.execute(sql)


def downgrade() -> None:
    for table in ("fin_item_cost", "fin_balance", "fin_leg", "fin_entry", "fin_period"):
        op.drop_table(table)
    op.drop_table("fin_account")
    if op.get_bind().dialect.name == "postgresql":
        for fn in (
            "fin_check_balanced",
            "fin_legs_with_their_entry",
            "fin_refuse_change",
            "fin_entry_admit",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
