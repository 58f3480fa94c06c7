"""finance: the books' guards on PostgreSQL checked per statement, not per row (issue 18)

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-06 19:40:00

``guanjia bench finance`` posted fewer than 10,000 entries/s on PostgreSQL because of the
per-row guards (docs/benchmarks.md, Finance: each batch of 1,000 entries and 3,000 legs
spent ~37 ms of server CPU in the legs' two composite foreign keys, one SPI query per leg
and key, ~17 ms in the deferred balance check, ~14 ms in the entries' row trigger). The same
guarantees, checked over the statement's transition table (PostgreSQL 10+, "Transition
relations" in CREATE TRIGGER):

* A leg's entry and account: the foreign keys ``fk_fin_leg_entry`` and ``fk_fin_leg_account``
  are replaced by one join in the legs' statement trigger (the entry of this seller, inserted
  by this transaction; the account of this seller in the leg's currency). What a foreign key
  also guards on the referenced side is guarded here: entries are never updated or deleted
  (0021), and now an account of the chart keeps its id, seller and currency and is never
  deleted; TRUNCATE of the books is refused (it skips row triggers).
* An entry inserted posted and not into a closed period: one query over the statement's new
  entries, after the INSERT, instead of a query per row before it. Either way the statement
  fails and nothing of it is stored.
* The deferred balance check stays a constraint trigger per entry (PostgreSQL has them per
  row only) but asks one plain aggregate (count, sum, lowest and highest currency) and groups
  by currency only for an entry in several currencies.

SQLite is unchanged: its triggers are per row and cheap (no server round trip), and its
foreign keys stay.
"""

from __future__ import annotations

from alembic import op

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None

_XID = "(pg_current_xact_id()::text::bigint & 4294967295)::text"

UPGRADE = [
    "ALTER TABLE fin_leg DROP CONSTRAINT fk_fin_leg_entry",
    "ALTER TABLE fin_leg DROP CONSTRAINT fk_fin_leg_account",
    f"""
    CREATE OR REPLACE FUNCTION fin_legs_with_their_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        -- One join over the statement's legs. A leg belongs to an entry of its seller that
        -- this transaction inserted (same xmin), whose deferred trigger checks the balance at
        -- COMMIT; a leg for an entry of an earlier transaction is refused, as on SQLite. (An
        -- entry inserted inside a savepoint has the subtransaction's xmin: its legs are
        -- refused, on the safe side; the ledger uses no savepoints.) Its account is of the
        -- same seller and keeps the leg's currency.
        SELECT n.entry_id, n.fin_account_id, n.currency, e.id AS entry_found,
               e.xmin::text = {_XID} AS ours, a.id AS account_found
          INTO bad
          FROM new_legs n
          LEFT JOIN fin_entry e ON e.id = n.entry_id AND e.account_id = n.account_id
          LEFT JOIN fin_account a ON a.id = n.fin_account_id AND a.account_id = n.account_id
                                 AND a.currency = n.currency
         WHERE e.id IS NULL OR e.xmin::text <> {_XID} OR a.id IS NULL
         LIMIT 1;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        IF bad.entry_found IS NULL THEN
            RAISE EXCEPTION 'a leg names journal entry %, which this seller does not have', bad.entry_id
                USING ERRCODE = '23503';
        ELSIF NOT bad.ours THEN
            RAISE EXCEPTION 'journal entry % is posted: it takes no more legs (post a new entry)', bad.entry_id
                USING ERRCODE = '23514';
        END IF;
        RAISE EXCEPTION 'a leg of journal entry % names account %, which this seller does not have in %', bad.entry_id, bad.fin_account_id, bad.currency
            USING ERRCODE = '23503';
    END $$
    """,
    """
    CREATE FUNCTION fin_entries_admit() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
        -- On PostgreSQL every entry is posted when inserted (its balance is checked at COMMIT).
        PERFORM 1 FROM new_entries WHERE NOT posted LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal entries are inserted posted on PostgreSQL' USING ERRCODE = '23514';
        END IF;
        SELECT p.period INTO bad FROM new_entries n JOIN fin_period p
            ON p.account_id = n.account_id AND p.period = to_char(n.entry_date, 'YYYY-MM')
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'period % is closed: post into an open period (a reversing entry dated today corrects a closed one)', bad.period
                USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
    END $$
    """,
    "DROP TRIGGER fin_entry_admit ON fin_entry",
    "DROP FUNCTION fin_entry_admit()",
    """
    CREATE TRIGGER fin_entries_admit AFTER INSERT ON fin_entry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION fin_entries_admit()
    """,
    """
    CREATE OR REPLACE FUNCTION fin_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        n integer;
        total numeric;
        lowest text;
        highest text;
        bad text;
    BEGIN
        SELECT count(*), sum(amount), min(currency), max(currency)
          INTO n, total, lowest, highest
          FROM fin_leg WHERE entry_id = NEW.id;
        IF n < 2 THEN
            RAISE EXCEPTION 'journal entry % has % legs: an entry needs at least two', NEW.id, n
                USING ERRCODE = '23514';
        END IF;
        IF lowest = highest THEN
            IF total <> 0 THEN
                bad := total::text || ' ' || lowest;
            END IF;
        ELSE
            SELECT string_agg(x.s::text || ' ' || x.currency, ', ' ORDER BY x.currency) INTO bad
              FROM (SELECT currency, sum(amount) AS s FROM fin_leg WHERE entry_id = NEW.id
                     GROUP BY currency) AS x
             WHERE x.s <> 0;
        END IF;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'journal entry % does not balance: its legs sum to % (they must sum to zero in each currency)', NEW.id, bad
                USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION fin_account_keep() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- What the legs' foreign key guarded on this side: a leg's account stays the one it
        -- names (same id, seller and currency) and is never deleted.
        IF TG_OP = 'DELETE' THEN
            RAISE EXCEPTION 'DELETE of account % refused: an account of the chart is never deleted (its legs name it)', OLD.code
                USING ERRCODE = '23514';
        END IF;
        IF NEW.id <> OLD.id OR NEW.account_id <> OLD.account_id OR NEW.currency <> OLD.currency THEN
            RAISE EXCEPTION 'account %: its id, seller and currency never change (its legs name them)', OLD.code
                USING ERRCODE = '23514';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER fin_account_keep BEFORE UPDATE OR DELETE ON fin_account
    FOR EACH ROW EXECUTE FUNCTION fin_account_keep()
    """,
    """
    CREATE FUNCTION fin_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'TRUNCATE of % refused: posted books never change', TG_TABLE_NAME
            USING ERRCODE = '23514';
    END $$
    """,
    *(
        f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t}"
        " FOR EACH STATEMENT EXECUTE FUNCTION fin_refuse_truncate()"
        for t in ("fin_account", "fin_entry", "fin_leg", "fin_period")
    ),
]

# The functions of 0021 as they were, for the downgrade.
_DOWN_LEGS = f"""
    CREATE OR REPLACE FUNCTION fin_legs_with_their_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        eid integer;
    BEGIN
        SELECT n.entry_id INTO eid FROM new_legs n JOIN fin_entry e ON e.id = n.entry_id
         WHERE e.xmin::text <> {_XID}
         LIMIT 1;
        IF eid IS NOT NULL THEN
            RAISE EXCEPTION 'journal entry % is posted: it takes no more legs (post a new entry)', eid
                USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
    END $$
    """
_DOWN_BALANCED = """
    CREATE OR REPLACE FUNCTION fin_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        n integer;
        bad text;
    BEGIN
        SELECT coalesce(sum(x.n), 0), string_agg(CASE WHEN x.s <> 0 THEN x.s::text || ' ' || x.currency END, ', ')
          INTO n, bad
          FROM (SELECT currency, sum(amount) AS s, count(*) AS n FROM fin_leg
                 WHERE entry_id = NEW.id GROUP BY currency) AS x;
        IF n < 2 THEN
            RAISE EXCEPTION 'journal entry % has % legs: an entry needs at least two', NEW.id, n
                USING ERRCODE = '23514';
        END IF;
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'journal entry % does not balance: its legs sum to % (they must sum to zero in each currency)', NEW.id, bad
                USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
    END $$
    """
_DOWN_ADMIT = """
    CREATE FUNCTION fin_entry_admit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
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
    """


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in UPGRADE:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for t in ("fin_account", "fin_entry", "fin_leg", "fin_period"):
        op.execute(f"DROP TRIGGER {t}_no_truncate ON {t}")
    op.execute("DROP FUNCTION fin_refuse_truncate()")
    op.execute("DROP TRIGGER fin_account_keep ON fin_account")
    op.execute("DROP FUNCTION fin_account_keep()")
    op.execute("DROP TRIGGER fin_entries_admit ON fin_entry")
    op.execute("DROP FUNCTION fin_entries_admit()")
    op.execute(_DOWN_ADMIT)
    op.execute(
        "CREATE TRIGGER fin_entry_admit BEFORE INSERT ON fin_entry"
        " FOR EACH ROW EXECUTE FUNCTION fin_entry_admit()"
    )
    op.execute(_DOWN_BALANCED)
    op.execute(_DOWN_LEGS)
    op.execute(
        "ALTER TABLE fin_leg ADD CONSTRAINT fk_fin_leg_entry FOREIGN KEY (entry_id, account_id)"
        " REFERENCES fin_entry (id, account_id)"
    )
    op.execute(
        "ALTER TABLE fin_leg ADD CONSTRAINT fk_fin_leg_account"
        " FOREIGN KEY (fin_account_id, account_id, currency)"
        " REFERENCES fin_account (id, account_id, currency)"
    )
