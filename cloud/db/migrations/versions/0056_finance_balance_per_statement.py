"""finance: the deferred balance check once per INSERT statement, not once per entry (issue 18)

Revision ID: 0056
Revises: 0055
Create Date: 2026-12-07 03:00:00

``guanjia bench finance`` spent a third of a batch's time at COMMIT (docs/benchmarks.md,
Finance, S30): the constraint trigger ``fin_entry_balanced`` fired once per entry, a
PL/pgSQL call and an index scan of the legs for each of a batch's 1,000 entries.
PostgreSQL has constraint triggers FOR EACH ROW only ("CREATE TRIGGER": "constraint
triggers ... can only be specified FOR EACH ROW"), so the check is queued on a row of its
own: the entries' statement trigger (``fin_entries_admit``, which sees the statement's new
entries in its transition table) inserts one row into ``fin_entry_check`` holding their ids,
and that row's deferred constraint trigger checks all of them with one query at COMMIT.

The guarantee is the one of 0021: whoever inserts an entry — our code, a script, a person
at psql — its legs must sum to zero per currency and be at least two when the transaction
commits, or the COMMIT fails. Tampering with ``fin_entry_check`` before COMMIT does not skip
the check: an AFTER trigger's event keeps the row version it was queued for and fetches it
whatever happened to it since (trigger.c, AfterTriggerExecute, SnapshotAny), so a DELETE or
UPDATE of the row changes nothing that is checked. Each check deletes its row (the table is
a queue, empty between transactions).

The legs' statement trigger takes the transaction's id once (it was computed and compared
as text for each leg) and looks up each distinct entry and each distinct account of the
statement once (it probed both for each of a batch's 3,000 legs).

The entries' foreign key to their seller (``fin_entry_account_id_fkey``, a query per entry)
becomes one lookup per distinct seller in the same statement trigger. What the key guarded
on the seller's side still holds: a committed entry has at least two legs, whose accounts
are of the entry's seller (the legs' trigger), and those accounts' own foreign key to the
seller (never deleted: 0047) keeps the seller from being deleted or renumbered.

SQLite is unchanged (its entries are checked when posted, 0021).
"""

from __future__ import annotations

from alembic import op

revision = "0056"
down_revision = "0055"
branch_labels = None
depends_on = None

_XID = "(pg_current_xact_id()::text::bigint & 4294967295)::text"

_ADMIT = """
    CREATE OR REPLACE FUNCTION fin_entries_admit() RETURNS trigger LANGUAGE plpgsql AS $$
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
        %(seller)s
        %(queue)s
        RETURN NULL;
    END $$
    """

_QUEUE = """-- The statement's entries, checked together at COMMIT (fin_entry_check's trigger).
        INSERT INTO fin_entry_check (entry_ids)
        SELECT array_agg(id) FROM new_entries HAVING count(*) > 0;"""

_SELLER = """-- The entries' seller exists: one lookup per distinct seller of the statement
        -- (was the foreign key fin_entry_account_id_fkey, one query per entry).
        SELECT n.account_id INTO bad FROM (SELECT DISTINCT account_id FROM new_entries) AS n
         WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.id = n.account_id)
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'a journal entry names seller account %, which does not exist', bad.account_id
                USING ERRCODE = '23503';
        END IF;"""

UPGRADE = [
    """
    CREATE TABLE fin_entry_check (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        entry_ids integer[] NOT NULL
    )
    """,
    """
    CREATE FUNCTION fin_check_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        e record;
        bad text;
    BEGIN
        -- One query over the statement's entries: those with fewer than two legs, more than
        -- one currency (summed per currency below) or a sum other than zero.
        FOR e IN
            SELECT x.id, count(l.entry_id) AS n, sum(l.amount) AS total,
                   min(l.currency) AS lowest, max(l.currency) AS highest
              FROM unnest(NEW.entry_ids) AS x(id)
              LEFT JOIN fin_leg l ON l.entry_id = x.id
             GROUP BY x.id
            HAVING count(l.entry_id) < 2 OR min(l.currency) <> max(l.currency)
                OR sum(l.amount) <> 0
             ORDER BY x.id
        LOOP
            IF e.n < 2 THEN
                RAISE EXCEPTION 'journal entry % has % legs: an entry needs at least two', e.id, e.n
                    USING ERRCODE = '23514';
            END IF;
            IF e.lowest = e.highest THEN
                bad := e.total::text || ' ' || e.lowest;
            ELSE
                SELECT string_agg(y.s::text || ' ' || y.currency, ', ' ORDER BY y.currency) INTO bad
                  FROM (SELECT currency, sum(amount) AS s FROM fin_leg WHERE entry_id = e.id
                         GROUP BY currency) AS y
                 WHERE y.s <> 0;
            END IF;
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'journal entry % does not balance: its legs sum to % (they must sum to zero in each currency)', e.id, bad
                    USING ERRCODE = '23514';
            END IF;
        END LOOP;
        DELETE FROM fin_entry_check WHERE id = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER fin_entries_balanced AFTER INSERT ON fin_entry_check
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fin_check_entries_balanced()
    """,
    "DROP TRIGGER fin_entry_balanced ON fin_entry",
    "DROP FUNCTION fin_check_balanced()",
    "ALTER TABLE fin_entry DROP CONSTRAINT fin_entry_account_id_fkey",
    _ADMIT.replace("%(seller)s", _SELLER).replace("%(queue)s", _QUEUE),
    """
    CREATE OR REPLACE FUNCTION fin_legs_with_their_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
        -- This transaction's id as xmin shows it (xid8 cast to xid drops the epoch), once.
        ours xid := pg_current_xact_id()::xid;
    BEGIN
        -- A leg belongs to an entry of its seller that this transaction inserted (same
        -- xmin), whose deferred check runs at COMMIT; a leg for an entry of an earlier
        -- transaction is refused, as on SQLite. (An entry inserted inside a savepoint has the
        -- subtransaction's xmin: its legs are refused, on the safe side; the ledger uses no
        -- savepoints.) Each distinct entry is looked up once, not once per leg.
        SELECT n.entry_id, e.id AS entry_found
          INTO bad
          FROM (SELECT DISTINCT entry_id, account_id FROM new_legs) AS n
          LEFT JOIN fin_entry e ON e.id = n.entry_id AND e.account_id = n.account_id
         WHERE e.id IS NULL OR e.xmin <> ours
         LIMIT 1;
        IF FOUND THEN
            IF bad.entry_found IS NULL THEN
                RAISE EXCEPTION 'a leg names journal entry %, which this seller does not have', bad.entry_id
                    USING ERRCODE = '23503';
            END IF;
            RAISE EXCEPTION 'journal entry % is posted: it takes no more legs (post a new entry)', bad.entry_id
                USING ERRCODE = '23514';
        END IF;
        -- Its account is of the same seller and keeps the leg's currency: a batch names a
        -- few accounts, each looked up once.
        SELECT n.entry_id, n.fin_account_id, n.currency
          INTO bad
          FROM (SELECT DISTINCT ON (fin_account_id, account_id, currency)
                       entry_id, fin_account_id, account_id, currency FROM new_legs) AS n
          LEFT JOIN fin_account a ON a.id = n.fin_account_id AND a.account_id = n.account_id
                                 AND a.currency = n.currency
         WHERE a.id IS NULL
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'a leg of journal entry % names account %, which this seller does not have in %', bad.entry_id, bad.fin_account_id, bad.currency
                USING ERRCODE = '23503';
        END IF;
        RETURN NULL;
    END $$
    """,
]

# As 0047 left them, for the downgrade.
_DOWN_BALANCED = """
    CREATE FUNCTION fin_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
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
    """
_DOWN_LEGS = f"""
    CREATE OR REPLACE FUNCTION fin_legs_with_their_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        bad record;
    BEGIN
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
    """


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in UPGRADE:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_DOWN_LEGS)
    op.execute(_ADMIT.replace("%(seller)s", "").replace("%(queue)s", ""))
    op.execute(
        "ALTER TABLE fin_entry ADD CONSTRAINT fin_entry_account_id_fkey"
        " FOREIGN KEY (account_id) REFERENCES account (id)"
    )
    op.execute(_DOWN_BALANCED)
    op.execute(
        "CREATE CONSTRAINT TRIGGER fin_entry_balanced AFTER INSERT ON fin_entry"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fin_check_balanced()"
    )
    op.execute("DROP TRIGGER fin_entries_balanced ON fin_entry_check")
    op.execute("DROP FUNCTION fin_check_entries_balanced()")
    op.execute("DROP TABLE fin_entry_check")
