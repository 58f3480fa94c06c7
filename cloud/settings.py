"""Cloud settings from the environment (``GUANJIA_*``), built in ``main()``, never at import."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GUANJIA_", extra="forbid")

    #: SQLite file by default; PostgreSQL with postgresql+psycopg://user@host/db
    database_url: str = "sqlite:///./guanjia-cloud.db"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    #: API worker processes. Handlers are synchronous Python: one process uses one core at
    #: most, and waits on the database part of the time, so a hub on N cores serves best
    #: with about N + 1 workers (``guanjia bench cloud``, docs/benchmarks.md).
    #: With more than one, every worker also runs MQTT ingest, sharing the stream through
    #: ``ingest_share_group`` (set to "guanjia-hub" when unset) under its own client id.
    http_workers: int = Field(default=1, ge=1, le=64)
    #: Threads per worker that run the (synchronous) handlers; see cloud/app.py.
    http_threads: int = Field(default=4, ge=1, le=200)
    #: Warm each worker (address parser, pooled connections, busiest reads) before it takes
    #: requests (cloud/serve/warmup.py), opening its ``db_pool_size`` connections.
    warm_on_start: bool = True
    #: Database connections each worker keeps (and as many again at a peak, closed after).
    db_pool_size: int = Field(default=8, ge=1, le=64)
    #: PostgreSQL's ``plan_cache_mode`` for the hub's connections (the statements psycopg
    #: prepares after their fifth use). ``force_generic_plan`` stops PostgreSQL planning the
    #: stock views and order lists again on each call, which it kept doing under "auto": in
    #: ``guanjia bench cloud``'s mix 20 % less database CPU per request (docs/benchmarks.md,
    #: issue 20). Not the default yet: a generic plan ignores the values, so a filter on a
    #: skewed column may plan worse; the dashboard pages at 100,000 orders are not measured
    #: with it. The stock views plan so whatever this says (cloud/db/engine.py generic_plans).
    db_plan_cache_mode: Literal["auto", "force_generic_plan", "force_custom_plan"] = "auto"
    #: Empty host disables MQTT ingest (API only).
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_client_id: str = "guanjia-cloud"
    #: MQTT keep-alive of ingest's connection (MQTT 3.1.1 §3.1.2.10). paho sends a PINGREQ
    #: after this long without traffic and drops the connection after as long again without
    #: an answer: the bound on noticing a link that died without a word (a half-open TCP
    #: connection, a socket the event loop stopped watching: the wedge in docs/sync.md).
    mqtt_keepalive_s: int = Field(default=15, ge=2, le=3600)
    #: How long a QoS 1 publish (an ack, a downlink batch) may wait for the broker's PUBACK.
    #: One that waits longer marks the connection dead and ingest connects again: MQTT
    #: 3.1.1 §4.4 resends an unacknowledged PUBLISH only on a new connection.
    mqtt_puback_timeout_s: float = Field(default=10.0, gt=0, le=600)
    #: Share ingest over several workers with $share/{group}/... subscriptions.
    ingest_share_group: str | None = None
    #: Partition leases of the ingest workers (cloud/sync/partitions.py, docs/sync.md
    #: "Partitions"): a worker ticks every ``ingest_lease_tick_s``; one silent for
    #: ``ingest_lease_s`` is taken for dead and its partitions go to the others. Machines'
    #: clocks must agree to well within the lease (NTP): a lease is a time written by one
    #: worker and read by another.
    ingest_lease_s: float = Field(default=5.0, gt=0, le=600)
    ingest_lease_tick_s: float = Field(default=1.0, gt=0, le=60)
    #: Apply Alembic migrations at start (off when a deploy step runs them).
    migrate_on_start: bool = True
    #: An event whose HLC wall time differs from the hub's clock by more is flagged.
    clock_skew_flag_s: float = 300.0
    #: Days of per-node history (backlog, oldest unacked age, lag; one sample a minute) the
    #: hub keeps for the fleet page's charts; older samples are pruned (cloud/nodes/history.py).
    node_sample_retention_days: int = Field(default=14, ge=1, le=366)
    #: Signs API access tokens (JWT, HS256). Unset: a random secret per process, so tokens
    #: die with it and several workers would not accept each other's; set it in production.
    jwt_secret: str | None = None
    #: Bearer token a Prometheus scrape of ``GET /metrics`` must send; unset, /metrics is
    #: off (404). See cloud/api/metrics.py.
    metrics_token: str | None = None
    #: The hub's address as Shopify reaches it (``https://hub.example.com``): a Shopify shop
    #: re-authorised through the API subscribes its webhooks at
    #: ``{public_url}/api/v1/channels/webhooks/shopify/{code}`` (cloud/channels/shopify/
    #: subscriptions.py). Unset: nothing is subscribed by the API (the CLI takes ``--hub-url``).
    public_url: str | None = None
    #: Lifetime of an access token.
    token_ttl_s: int = 8 * 3600
    #: How long a worker trusts what it read of a user's token version: a revoked token
    #: (user disabled, role or password changed) works at most this much longer there
    #: (cloud/auth.py TokenVersions). 0 reads the database on every request.
    token_version_cache_s: float = Field(default=2.0, ge=0, le=60)
    #: Bearer token of the platform operator, who creates seller accounts through
    #: ``POST /api/v1/platform/accounts``; unset, that route is off (404). No seller's user
    #: holds it. The CLI (``guanjia cloud account create``) needs none: it runs on the hub.
    operator_token: str | None = Field(default=None, min_length=32)
    #: Serve ``/docs``, ``/redoc`` and ``/openapi.json``. Off by default: the API's map
    #: helps an attacker more than a seller (OWASP API9:2023 improper inventory management).
    api_docs: bool = False
    #: Origins (scheme://host[:port]) whose browser pages may call the API (CORS). Empty,
    #: the default: no cross-origin browser access at all (the hub sends no CORS headers).
    #: JSON in the environment: GUANJIA_CORS_ORIGINS='["https://erp.example.com"]'.
    cors_origins: list[str] = []

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        # An origin is scheme://host[:port] exactly as a browser sends it; "*" would open the
        # API to every page on the web (OWASP API8:2023 security misconfiguration).
        bad = [o for o in v if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", o)]
        if bad:
            raise ValueError(f"not an origin (scheme://host[:port], no '*' or path): {bad}")
        return v

    # --- login protection (cloud/login.py) and password checks (cloud/auth.py HashPool) ---
    #: Failed logins of one username before it is locked; of one client address.
    login_user_failures: int = Field(default=10, ge=1)
    login_client_failures: int = Field(default=100, ge=1)
    #: Failures older than this are forgotten.
    login_window_s: float = Field(default=900.0, gt=0)
    #: The first lockout; each next one of the same key doubles it, up to the maximum.
    login_lockout_s: float = Field(default=60.0, gt=0)
    login_max_lockout_s: float = Field(default=3600.0, gt=0)
    #: Threads checking passwords per worker (0: half the cores, at least one), and how many
    #: more logins may wait for them before a login is refused with 503.
    login_hash_threads: int = Field(default=0, ge=0, le=64)
    login_hash_queue: int = Field(default=16, ge=0, le=1024)
    #: A refused login (401, 429, 503) is answered after this pause, as pam_faildelay(8)
    #: does: the pause costs the hub no CPU, but a flooding connection's next attempt
    #: waits for it, so 64 flooding connections send ~64 attempts a second, not ~700.
    login_refusal_delay_s: float = Field(default=1.0, ge=0, le=10)

    # --- request limits (cloud/api/limits.py, cloud/serve/protocol.py) ---
    #: Largest request body; imports have their own (``http_max_import_bytes``).
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    http_max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    #: Largest request line + headers, and most header fields, of one request (431 beyond).
    http_max_head_bytes: int = Field(default=64 * 1024, ge=1024)
    http_max_headers: int = Field(default=100, ge=8)
    #: A connection must send a whole request line and headers within this many seconds of
    #: opening (or of its previous answer), or it is closed.
    http_head_timeout_s: float = Field(default=10.0, gt=0)
    #: An idle keep-alive connection is closed after this many seconds.
    http_keep_alive_s: int = Field(default=5, ge=1)
    #: Connections plus requests in progress per worker; beyond it uvicorn answers 503.
    http_limit_concurrency: int = Field(default=2000, ge=1)
    #: Exports (heavy reads) in progress at once: per user, and per worker in all.
    exports_per_user: int = Field(default=1, ge=1)
    exports_per_worker: int = Field(default=2, ge=1)
    #: SKU import jobs run at once by each worker (cloud/catalogue/jobs.py); 0: this worker
    #: only accepts them and others run them.
    import_jobs_per_worker: int = Field(default=1, ge=0, le=4)
    #: Import jobs of one account queued or running at once, over all workers (429 beyond).
    import_jobs_per_account: int = Field(default=2, ge=1, le=100)
    #: How long ``POST /skus/import`` waits for its job before answering 202 with Location.
    import_wait_s: float = Field(default=120.0, ge=0, le=600)

    # --- channels (cloud/channels/, docs/channels.md) ---
    #: Run the channel scheduler in each worker: scheduled and requested downloads, and
    #: shipment confirmations. Any number of workers may: they share the work through
    #: leases in the database.
    channels_scheduler: bool = True
    #: How often it looks for due shops and confirmations (a "download now" wakes it).
    channels_poll_s: float = Field(default=10.0, gt=0, le=600)
    #: Run the channels' stock push loop (a look for dirty stock rows every 0.25 s) in this
    #: process. One process is enough: rows are leased, and the scheduler's tick drains them
    #: too. ``serve --workers N`` keeps it in the first worker only (cloud/serve/workers.py):
    #: in all three workers of ``guanjia bench cloud`` it was their largest background cost
    #: (issue 20, docs/benchmarks.md).
    stock_push_loop: bool = True
    #: How long a pack node may take to answer a give-back of its offline pool's numbers
    #: before a task is opened and a lead may give them back by force (hours;
    #: cloud/channels/pool_force.py, docs/channels.md "A node that never answers").
    waybill_pool_force_after_h: float = Field(default=24.0, gt=0, le=720)

    # --- finance (cloud/finance/poster.py, docs/finance.md) ---
    #: Run the poster in each worker: order history and PO receipts into the books. Any
    #: number of workers may: each stream's cursor is locked by one of them at a time.
    finance_poster: bool = True
    #: How often it looks for new facts.
    finance_poll_s: float = Field(default=10.0, gt=0, le=3600)
    #: Facts younger than this are left for the next tick: on PostgreSQL an id is drawn at
    #: INSERT but seen at COMMIT, so the cursor must not pass a transaction still open.
    finance_lag_s: float = Field(default=10.0, ge=0, le=3600)
    #: How long after sending an e-invoice (or its red form) the worker asks the provider
    #: how it went (cloud/finance/einvoice/worker.py POLL); the demo asks after 1 s.
    einvoice_query_s: float = Field(default=5.0, gt=0, le=3600)
    #: WeChat Pay's CA (PEM certificates, or the CertTrustChain.p7b WeChat Pay publishes at
    #: wx.gtimg.com/mch/files/CertTrustChain.p7b): every platform certificate a bill job
    #: downloads must chain to it (cloud/finance/wechat_trust.py). Unset, jobs verified by
    #: platform certificates are refused with a sentence; jobs given WeChat Pay's public key
    #: do not need it. The marketplace simulator writes its own CA with --wechatpay-ca-file.
    wechatpay_ca_bundle: Path | None = None
    #: The hub's secret (32 random bytes, base64: ``openssl rand -base64 32``) that seals
    #: merchants' keys at rest with AES-256-GCM (cloud/finance/sealed.py). Unset, they are
    #: stored as given; set, new ones are sealed and old plain ones at their job's next run.
    #: Losing or changing it makes sealed keys unreadable: keep it with the backups.
    secrets_key: str | None = None

    @field_validator("secrets_key")
    @classmethod
    def _secrets_key(cls, v: str | None) -> str | None:
        # The same check as cloud/finance/sealed.py parse_key (settings import no domain).
        try:
            ok = not v or len(base64.b64decode(v.strip(), validate=True)) == 32
        except ValueError:  # binascii.Error is one
            ok = False
        if not ok:
            raise ValueError(
                "GUANJIA_SECRETS_KEY is 32 random bytes in base64 (openssl rand -base64 32)"
            )
        return v

    # --- transfers (cloud/inbound/transfer_pick.py, docs/inbound.md "A rest nobody picks") ---
    #: The rest of a short transfer asked of its pick node and not shipped after this long
    #: opens a ``transfer_rest_overdue`` task (move the pick, ship it from the hub, or cancel
    #: the rest). Seconds; the default is a working day.
    transfer_rest_wait_s: int = Field(default=8 * 3600, ge=60, le=30 * 86400)
    #: How often each worker looks for such rests (0: never; tests tick it themselves).
    transfer_watch_poll_s: int = Field(default=300, ge=0, le=86400)
    #: A hub on SQLite gathers the planner's statistics at start and this often (0: never),
    #: once its database has ``sqlite_analyze_min_pages`` pages (cloud/db/sqlite_stats.py).
    sqlite_analyze_s: int = Field(default=3600, ge=0, le=86400)
    sqlite_analyze_min_pages: int = Field(default=2560, ge=0)

    # --- the dashboard (cloud/web/) ---
    #: Orders in by this hour (China time) ship the same day; open ones from before the
    #: latest cut-off count as late on the home page (cloud/orders/figures.py).
    dashboard_cutoff_hour: int = Field(default=16, ge=0, le=23)
