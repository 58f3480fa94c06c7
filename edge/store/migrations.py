"""The edge store's schema, as named migrations applied once each, in order.

Never edit a migration that has shipped: add the next one.

A migration's step is SQL text (0001-0008, as shipped) or, from 0009 on, a callable
taking a :class:`sqlite_utils.Database` over the store's own connection, inside the
store's transaction (edge/store/schema.py). Tables it creates are STRICT like the rest
(``create(..., strict=True)``). ``transform`` rebuilds a table without its triggers:
a migration that transforms ``sku`` calls :func:`sku_search_index` afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from edge.store.schema import Migration, fts_trigram_available

if TYPE_CHECKING:
    import sqlite_utils

PICK_API_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS pick_session (
    id INTEGER PRIMARY KEY,
    wave TEXT NOT NULL,
    operator TEXT NOT NULL,
    station TEXT NOT NULL,
    state TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS pick_session_open_wave
    ON pick_session(wave) WHERE state != 'done';
CREATE UNIQUE INDEX IF NOT EXISTS pick_session_open_operator
    ON pick_session(operator) WHERE state != 'done';
CREATE TABLE IF NOT EXISTS pick_input (
    session INTEGER NOT NULL REFERENCES pick_session(id),
    n INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (session, n)
) STRICT;
CREATE TABLE IF NOT EXISTS pick_blob (
    sha256 TEXT PRIMARY KEY,
    body BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS pick_request (
    operator TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response BLOB NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (operator, key)
) STRICT
"""


def sku_search_index(db: sqlite_utils.Database) -> None:
    """FTS5 over the replica's SKU codes and names, kept current by triggers on ``sku``.

    The ``trigram`` tokenizer indexes every three characters: substring search that
    works for Chinese, which the default tokenizer does not split into words. The
    triggers run in the transaction of each replica write (Store.apply_down), so the
    index never disagrees with ``sku``. Without trigram support (SQLite < 3.34, or no
    FTS5) there is no index and :func:`edge.store.replica.search_skus` scans with LIKE.
    Idempotent: rebuilds the index only if missing or different (``replace=True``).
    """
    if fts_trigram_available(db.conn):
        db.table("sku").enable_fts(
            ["sku_code", "name"], tokenize="trigram", create_triggers=True, replace=True
        )


#: The PDA's stocktake by scanner: sessions, journalled inputs and idempotency records
#: (edge/runtimes/count_service.py).
COUNT_API_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS count_session (
    id INTEGER PRIMARY KEY,
    count_id TEXT NOT NULL UNIQUE,
    operator TEXT NOT NULL,
    state TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS count_session_open_operator
    ON count_session(operator) WHERE state NOT IN ('finished', 'idle');
CREATE TABLE IF NOT EXISTS count_input (
    session INTEGER NOT NULL REFERENCES count_session(id),
    n INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (session, n)
) STRICT;
CREATE TABLE IF NOT EXISTS count_request (
    operator TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response BLOB NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (operator, key)
) STRICT
"""


HANDHELD_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS handheld_request (
    operator TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response BLOB NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (operator, key)
) STRICT
"""


#: POs released to the node (``po.release``), and the receipts its receiving station makes:
#: every counted unit, placed group and stage commits with the step that shows it.
#: ``reflected``: a finished receipt the cloud acked before a newer release of its PO
#: arrived, so that release's figures hold it (edge/store/replica.py).
RECEIVING_SCHEMA: Final = """
CREATE TABLE po_release (
    po_number TEXT PRIMARY KEY,
    warehouse TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL
) STRICT;
CREATE TABLE receive_receipt (
    receipt_id TEXT PRIMARY KEY,
    po_number TEXT NOT NULL,
    warehouse TEXT NOT NULL,
    station TEXT NOT NULL,
    stage TEXT NOT NULL CHECK (stage IN ('counting', 'putaway', 'finished', 'abandoned')),
    fact_seq INTEGER,
    reflected INTEGER NOT NULL DEFAULT 0,
    opened_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX receive_receipt_po ON receive_receipt(po_number, stage);
CREATE TABLE receive_unit (
    receipt_id TEXT NOT NULL REFERENCES receive_receipt(receipt_id),
    unit_no INTEGER NOT NULL,
    sku_code TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('pass', 'fail')),
    reason TEXT NOT NULL DEFAULT '',
    serial TEXT,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (receipt_id, unit_no)
) STRICT;
CREATE INDEX receive_unit_serial ON receive_unit(serial);
CREATE TABLE receive_placed (
    receipt_id TEXT NOT NULL REFERENCES receive_receipt(receipt_id),
    sku_code TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason TEXT NOT NULL,
    bin TEXT NOT NULL,
    PRIMARY KEY (receipt_id, sku_code, verdict, reason)
) STRICT;
CREATE TABLE receive_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
INSERT INTO receive_counter VALUES ('receipt', 0), ('serial', 0)
"""

#: Returns released to the node (``return.release``) and the receipts its returns station
#: makes (edge/stations/returns.py, edge/runtimes/returns.py): every counted unit and stage
#: commits with the step that shows it.
RETURNS_SCHEMA: Final = """
CREATE TABLE return_release (
    request TEXT PRIMARY KEY,
    warehouse TEXT NOT NULL,
    status TEXT NOT NULL,
    order_id TEXT NOT NULL,
    return_waybill TEXT,
    tracking_number TEXT,
    body TEXT NOT NULL
) STRICT;
CREATE INDEX return_release_order ON return_release(order_id);
CREATE INDEX return_release_waybill ON return_release(return_waybill);
CREATE INDEX return_release_tracking ON return_release(tracking_number);
CREATE TABLE return_receipt (
    receipt_id TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    station TEXT NOT NULL,
    waybill TEXT,
    stage TEXT NOT NULL CHECK (stage IN ('counting', 'finished', 'abandoned')),
    opened_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) STRICT;
CREATE TABLE return_unit (
    receipt_id TEXT NOT NULL REFERENCES return_receipt(receipt_id),
    unit_no INTEGER NOT NULL,
    line_no INTEGER NOT NULL,
    sku_code TEXT NOT NULL,
    condition TEXT NOT NULL CHECK (condition IN ('sellable', 'damaged')),
    reason TEXT NOT NULL DEFAULT '',
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (receipt_id, unit_no)
) STRICT;
CREATE TABLE return_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
INSERT INTO return_counter VALUES ('receipt', 0)
"""


MIGRATIONS: Final[list[Migration]] = [
    (
        "0001_meta_outbox",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
        INSERT INTO meta VALUES ('epoch', 0), ('last_seq', 0), ('acked_through', 0),
                                ('hlc', 0), ('down_applied', 0);
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            body BLOB NOT NULL
        ) STRICT;
        """,
    ),
    (
        "0002_catalogue",
        """
        CREATE TABLE sku (
            sku_code TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            weight_g INTEGER
        ) STRICT;
        CREATE TABLE barcode (
            barcode TEXT PRIMARY KEY,
            sku_code TEXT NOT NULL REFERENCES sku(sku_code) ON DELETE CASCADE
        ) STRICT;
        CREATE INDEX barcode_sku ON barcode(sku_code);
        """,
    ),
    (
        "0003_scan",
        """
        CREATE TABLE scan (
            seq INTEGER PRIMARY KEY REFERENCES outbox(seq),
            station TEXT NOT NULL,
            barcode TEXT NOT NULL,
            sku_code TEXT,
            verdict TEXT NOT NULL,
            at_ms INTEGER NOT NULL
        ) STRICT;
        """,
    ),
    (
        # Delivered outbox rows are pruned, so domain rows keep the event's seq
        # without a foreign key to it; the outbox remembers each event's HLC so
        # the node can tell the age of its oldest unacked event.
        "0004_prunable_outbox",
        """
        CREATE TABLE scan_new (
            seq INTEGER PRIMARY KEY,
            station TEXT NOT NULL,
            barcode TEXT NOT NULL,
            sku_code TEXT,
            verdict TEXT NOT NULL,
            at_ms INTEGER NOT NULL
        ) STRICT;
        INSERT INTO scan_new SELECT * FROM scan;
        DROP TABLE scan;
        ALTER TABLE scan_new RENAME TO scan;
        ALTER TABLE outbox ADD COLUMN hlc INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        # What the cloud tells the node (edge/store/replica.py): richer SKUs, released orders,
        # bins for pick routes, expected stock for counts.
        "0005_replica",
        """
        ALTER TABLE sku ADD COLUMN gtin TEXT;
        ALTER TABLE sku ADD COLUMN serial_tracked INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sku ADD COLUMN components TEXT NOT NULL DEFAULT '[]';
        CREATE INDEX sku_gtin ON sku(gtin);
        CREATE TABLE order_release (
            order_id TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            status TEXT NOT NULL,
            waybill TEXT,
            wave TEXT,
            body TEXT NOT NULL
        ) STRICT;
        CREATE INDEX order_release_waybill ON order_release(waybill);
        CREATE INDEX order_release_wave ON order_release(wave);
        CREATE TABLE bin (
            code TEXT PRIMARY KEY,
            warehouse TEXT NOT NULL,
            zone TEXT NOT NULL,
            x REAL NOT NULL,
            y REAL NOT NULL,
            walk_order INTEGER NOT NULL,
            barcode TEXT UNIQUE
        ) STRICT;
        CREATE TABLE stock_expected (
            bin TEXT NOT NULL,
            sku_code TEXT NOT NULL,
            qty INTEGER NOT NULL,
            PRIMARY KEY (bin, sku_code)
        ) STRICT;
        """,
    ),
    (
        # The station journal (edge/store/journal.py): every verdict the operator was shown,
        # committed before the light; the lead's overrides and reprints; the label state
        # of each order (written *before* the job goes to the printer, so a restart never
        # prints a second label on its own); local stock movements and stocktake reports;
        # and the digest of each fact already in the outbox, so a re-pack after a crash
        # does not report the same fact twice.
        "0006_station_journal",
        """
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY,
            station TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            order_id TEXT,
            barcode TEXT,
            sku_code TEXT,
            line_id TEXT,
            serial TEXT,
            lead TEXT,
            at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX journal_order ON journal(order_id);
        CREATE TABLE lead_action (
            journal_id INTEGER PRIMARY KEY REFERENCES journal(id),
            lead TEXT NOT NULL,
            kind TEXT NOT NULL,
            order_id TEXT,
            at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE pack_label (
            order_id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('sent', 'printed', 'unsent')),
            printer TEXT NOT NULL,
            carrier TEXT NOT NULL,
            tracking_number TEXT NOT NULL,
            jobs INTEGER NOT NULL DEFAULT 0,
            updated_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE stock_movement (
            id TEXT PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            bin TEXT NOT NULL,
            sku_code TEXT NOT NULL,
            delta INTEGER NOT NULL,
            reason TEXT NOT NULL,
            ref TEXT NOT NULL,
            at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE stocktake_report (
            count_id TEXT PRIMARY KEY,
            station TEXT NOT NULL,
            body TEXT NOT NULL,
            at_ms INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE fact_digest (
            digest TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            seq INTEGER NOT NULL,
            at_ms INTEGER NOT NULL
        ) STRICT;
        """,
    ),
    (
        # The pick API's sessions and idempotency records (edge/runtimes/pick.py).
        "0007_pick_api",
        PICK_API_SCHEMA,
    ),
    (
        # Each released order's pick lease (OrderRelease.pick_node): the node offers for
        # picking only the orders leased to it (edge/runtimes/pick.py, docs/sync.md).
        "0008_pick_lease",
        """
        ALTER TABLE order_release ADD COLUMN pick_node TEXT;
        UPDATE order_release SET pick_node = json_extract(body, '$.pick_node');
        """,
    ),
    (
        # The PDA's item lookup by SKU code or name (edge/store/replica.py search_skus).
        "0009_sku_search",
        sku_search_index,
    ),
    (
        # The PDA's stocktake by scanner (edge/runtimes/count_service.py).
        "0010_count_api",
        COUNT_API_SCHEMA,
    ),
    (
        # The receiving station (edge/stations/receive.py, edge/runtimes/receive.py).
        "0011_receiving",
        RECEIVING_SCHEMA,
    ),
    (
        # The returns station (edge/stations/returns.py, edge/runtimes/returns.py).
        "0012_returns",
        RETURNS_SCHEMA,
    ),
    (
        # Transfers received like POs (docs/inbound.md "Transfers"): the releases of the
        # transfers coming to this warehouse, and which document a receipt counts against.
        "0013_transfer_receiving",
        """
        CREATE TABLE transfer_release (
            transfer_number TEXT PRIMARY KEY,
            warehouse TEXT NOT NULL,
            status TEXT NOT NULL,
            body TEXT NOT NULL
        ) STRICT;
        ALTER TABLE receive_receipt ADD COLUMN document TEXT NOT NULL DEFAULT 'po'
            CHECK (document IN ('po', 'transfer'));
        DROP INDEX receive_receipt_po;
        CREATE INDEX receive_receipt_po ON receive_receipt(po_number, document, stage);
        """,
    ),
    (
        # ASN scan (docs/inbound.md "ASN scan"): each delivery reference of a PO (ASN
        # number, courier waybill) -> the PO, so a scan of one finds it by index.
        "0014_po_delivery_refs",
        """
        CREATE TABLE po_ref (
            ref TEXT NOT NULL,
            po_number TEXT NOT NULL REFERENCES po_release(po_number) ON DELETE CASCADE,
            PRIMARY KEY (ref, po_number)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX po_ref_po ON po_ref(po_number);
        INSERT OR IGNORE INTO po_ref
            SELECT r.value, p.po_number FROM po_release p, json_each(p.body, '$.delivery_refs') r;
        """,
    ),
    (
        # Units per SKU of each released order, by SKU: the receiving station's fast-mover
        # test reads one SKU's open demand by index at its scan, not every order's lines.
        "0015_order_sku",
        """
        CREATE TABLE order_sku (
            sku_code TEXT NOT NULL,
            order_id TEXT NOT NULL,
            qty INTEGER NOT NULL,
            PRIMARY KEY (sku_code, order_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX order_sku_order ON order_sku(order_id);
        INSERT INTO order_sku
            SELECT json_extract(l.value, '$.sku_code'), o.order_id,
                   SUM(json_extract(l.value, '$.qty'))
            FROM order_release o, json_each(o.body, '$.lines') l GROUP BY 1, 2;
        """,
    ),
    (
        # The PDA's receiving and returns (edge/runtimes/handheld.py): each request's answer
        # under its Idempotency-Key, committed with the step (created there too, as the
        # count API's tables are).
        "0016_handheld_request",
        HANDHELD_SCHEMA,
    ),
    (
        # Transfers shipped from this node (docs/inbound.md "Transfers"): the releases of the
        # audited transfers leaving this warehouse (``transfer.outbound``), and the highest
        # shipment of each this node has picked and reported (edge/runtimes/pick_transfer.py).
        "0017_transfer_outbound",
        """
        CREATE TABLE transfer_outbound (
            transfer_number TEXT PRIMARY KEY,
            warehouse TEXT NOT NULL,
            status TEXT NOT NULL,
            shipment INTEGER NOT NULL,
            pick_node TEXT,
            body TEXT NOT NULL,
            picked INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        """,
    ),
    (
        # The offline e-waybill pool (docs/channels.md "The offline pool"): numbers the hub
        # drew ahead (``waybill.pool``), ``free`` until the pack station prints one on an
        # order's label; ``used`` commits with the label's intent and the
        # ``waybill.pool_used`` fact (edge/runtimes/pack.py).
        "0018_waybill_pool",
        """
        CREATE TABLE waybill_pool (
            waybill_code TEXT PRIMARY KEY,
            carrier TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('free', 'used')),
            order_id TEXT,
            used_at_ms INTEGER
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX waybill_pool_free ON waybill_pool(carrier, state);
        CREATE INDEX waybill_pool_order ON waybill_pool(order_id) WHERE order_id IS NOT NULL;
        """,
    ),
    (
        # Since when (the node's wall clock, ms) the stored release of an order has had no
        # printable waybill; NULL once it has one. With the uplink up the pack station takes
        # a pool number for an order whose hub draw is that late (docs/channels.md "The pool
        # with the uplink up"; edge/runtimes/pack.py ``order_view``). Releases stored before
        # count from this migration.
        "0019_release_waiting",
        """
        ALTER TABLE order_release ADD COLUMN waiting_since_ms INTEGER;
        UPDATE order_release
            SET waiting_since_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
            WHERE waybill IS NULL;
        """,
    ),
    (
        # Item labels the hub asks this node to print (``serial.label``: a serial it issued
        # when a lead resolved a serial seen twice, docs/inbound.md "The new serial's
        # label"), one row per request: ``pending`` once the change is applied, ``sent``
        # committed before the job leaves, ``printed`` with the ``serial.label_printed``
        # fact (edge/store/serial_labels.py).
        "0020_serial_label",
        """
        CREATE TABLE serial_label (
            request TEXT PRIMARY KEY,
            serial TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'printed', 'refused')),
            printer TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            problem TEXT,
            asked_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX serial_label_open ON serial_label(state, asked_ms)
            WHERE state IN ('pending', 'sent');
        """,
    ),
]
