"""The HTTP APIs as fuzz targets (issue 19): the hub's API, the PDA's API on the edge node,
and the Shopify webhooks the hub receives.

A case is one request, sent in-process through the app (Starlette's TestClient: the ASGI
app with its lifespan and middleware, no socket) to a hub on a temporary SQLite database
seeded with the demo seller and a logged-in admin, or to a pick API over a temporary edge
store filled through the downlink. The case's bytes say which request: a JSON object
``{"m": method, "t": route template, "p": path params, "q": query, "b": JSON body,
"f": form body, "r": raw body, "h": headers, "a": 1 (the valid token) or an
Authorization value}`` (the valid samples are one per route, with bodies that pass its model
where the tenancy probes have one), and any other bytes pick a route by their first byte
and are its body.

Outcomes: a 2xx or 3xx is *accepted*; a 4xx is *refused* with the sentence of its ``detail``
(for 422, each item's ``msg``) — *unclear* when that is empty, has no words, or is only
the status's reason phrase ("Not Found") from a route that exists (where no route matches,
the reason phrase is the whole truth); a 5xx or an exception is a *crash*. After a run,
:func:`Kind.finish` checks what must hold whatever was sent: the other seller's rows are
untouched; the edge store passes ``integrity_check`` and its outbox has no gap; every
webhook is stored once or counted as refused once.

Everything of the hub and the node is imported on first use (see tests/fuzz/kinds_answers.py).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import re
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.fuzz.harness import Refused, unclear

_METHOD = re.compile(r"[A-Z]{1,10}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}")
_PARAM = re.compile(r"{([^}/]*)}")
#: Reason phrases: a bare one from a route that exists says nothing a person can act on.
_PHRASES = {s.phrase.lower() for s in HTTPStatus}
_TAGS = re.compile(r"<[^>]*>")


class ServerError(Exception):
    """A 5xx: the server failed on input it should have refused."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str | bytes] = field(default_factory=dict)
    content: bytes | None = None
    auth: bool = True


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _header_value(value: Any) -> bytes:
    # What a client can put on the wire: the UTF-8 bytes (httpx sends bytes as they are; a
    # str it encodes as ASCII, and fails on anything else), no CR, LF or NUL.
    raw = _text(value).encode("utf-8", "surrogatepass")
    return re.sub(rb"[\r\n\x00]", b"", raw)[:512]


def _fill(template: str, params: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        return quote(_text(params.get(name, "1")).encode("utf-8", "surrogatepass"), safe="")

    path = _PARAM.sub(one, template if template.startswith("/") else "/" + template)
    return quote(path.encode("utf-8", "surrogatepass"), safe="/%-._~!$&'()*+,;=:@")


def decode(data: bytes, routes: list[tuple[str, str]]) -> Request:
    """The request a case describes (see the module's docstring)."""
    try:
        obj = json.loads(data)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and "t" in obj:
        method = _text(obj.get("m", "GET")).upper()
        req = Request(method if _METHOD.fullmatch(method) else "GET", "")
        params = obj.get("p")
        req.path = _fill(_text(obj["t"]), params if isinstance(params, dict) else {})
        query = obj.get("q")
        if isinstance(query, dict):
            req.query = {str(k): _text(v) for k, v in query.items()}
        headers = obj.get("h")
        if isinstance(headers, dict):
            req.headers = {k: _header_value(v) for k, v in headers.items() if _TOKEN.fullmatch(k)}
        if "b" in obj:
            req.content = json.dumps(obj["b"], ensure_ascii=False).encode("utf-8", "surrogatepass")
            req.headers.setdefault("content-type", "application/json")
        elif isinstance(obj.get("f"), dict):
            form = "&".join(f"{quote(str(k))}={quote(_text(v))}" for k, v in obj["f"].items())
            req.content = form.encode()
            req.headers.setdefault("content-type", "application/x-www-form-urlencoded")
        elif "r" in obj:
            req.content = _text(obj["r"]).encode("utf-8", "surrogatepass")
        auth = obj.get("a", 1)
        req.auth = auth == 1
        if isinstance(auth, str):
            req.headers["authorization"] = _header_value(auth)
        return req
    # Any other bytes: the first picks a route (and how the rest is sent), the rest is the body.
    pick = data[0] if data else 0
    method, template = routes[pick % len(routes)]
    text = data[1:].decode("utf-8", "replace")
    names = [m.group(1).split(":")[0] for m in _PARAM.finditer(template)]
    req = Request(method, _fill(template, {n: text[:12] or "1" for n in names}))
    req.content = data[1:]
    kind = ("application/json", "application/x-www-form-urlencoded", "text/csv")
    req.headers["content-type"] = kind[(pick // len(routes)) % 3]
    return req


def sentence(response: Any) -> str:
    """What a 4xx told the person: its ``detail`` (each 422 item's ``msg``), or its text."""
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = response.json()
        except ValueError:
            return ""
        detail = body.get("detail") if isinstance(body, dict) else None
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list) and detail:
            msgs = [d.get("msg") if isinstance(d, dict) else None for d in detail]
            if all(isinstance(m, str) and not unclear(m) for m in msgs):
                return "; ".join(str(m) for m in msgs)
            return next((str(m) for m in msgs if not isinstance(m, str) or unclear(m)), "")
        return ""
    return " ".join(_TAGS.sub(" ", response.text).split())[:500]


class App:
    """An app behind a TestClient for one process, its token, and what it checks at the end."""

    client: Any
    routes: list[tuple[str, str]]
    token: str = ""

    def matches(self, method: str, path: str) -> bool:
        """Whether a route of the app takes ``method`` at ``path`` (Starlette's own match)."""
        from starlette.routing import Match

        scope = {"type": "http", "method": method, "path": _unquote(path), "root_path": ""}
        for route in self.client.app.router.routes:
            # FastAPI keeps included routers as one entry each; their routes match alike.
            for r in getattr(route, "effective_route_contexts", lambda r=route: [r])():
                if r.matches(scope)[0] == Match.FULL:
                    return True
        return False

    def send(self, req: Request) -> Any:
        headers = dict(req.headers)
        if req.auth and self.token:
            headers["authorization"] = f"Bearer {self.token}"
        return self.client.request(
            req.method, req.path, params=req.query, content=req.content, headers=headers
        )

    def judge(self, req: Request, response: Any) -> None:
        status = response.status_code
        if status >= 500:
            raise ServerError(f"HTTP {status} {response.text[:300]}")
        if status < 400:
            return
        said = sentence(response)
        if said.strip(" .").lower() in _PHRASES and self.matches(req.method, req.path):
            said = ""  # only the reason phrase, from a route that exists: unclear
        elif said.strip(" .").lower() in _PHRASES:
            said = f"{said} (no route takes {req.method} here)"
        raise Refused(said if not unclear(said) else said or f"HTTP {status} with no sentence")

    def finish(self) -> str | None:
        return None


def _unquote(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path.split("?")[0])


def _tmp(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def _routes(app: Any, keep: tuple[str, ...]) -> list[tuple[str, str]]:
    from tests.cloud.api.test_tenancy import _routes as every_route

    return sorted((m, p) for (m, p) in every_route(app) if m != "*" and p.startswith(keep))


def _client(app: Any) -> Any:
    from fastapi.testclient import TestClient

    client = TestClient(app, base_url="http://testserver")
    client.__enter__()
    atexit.register(client.__exit__, None, None, None)
    return client


# --- the hub --------------------------------------------------------------------------------

HUB_SECRET = "fuzz-secret-of-at-least-32-bytes-long!"
PASSWORD = "fuzz admin password 1"
SHOP, SHOP_SECRET, SHOP_DOMAIN = "shop-fuzz", "shpss-fuzz-secret", "fuzz.myshopify.com"


class Hub(App):
    """A hub on a temporary SQLite file: the demo seller (whose admin the cases act as), and
    another seller with rows of its own, which no case may touch."""

    def __init__(self, *, demo: bool = True) -> None:
        from cloud import accounts
        from cloud.app import create_app
        from cloud.channels import shops
        from cloud.seed import seed_demo
        from cloud.settings import Settings

        tmp = _tmp("fuzz-hub-")
        settings = Settings(
            database_url=f"sqlite:///{tmp / 'hub.db'}",
            mqtt_host="",
            jwt_secret=HUB_SECRET,
            channels_scheduler=False,
            finance_poster=False,
            # One client address sends every case: its own lockout would end the run early
            # (the per-username lockout stays as it is, and is fuzzed like the rest).
            login_client_failures=10**9,
        )
        self.app = create_app(settings, ingest=False)
        self.client = _client(self.app)
        self.routes = _routes(self.app, ("/api/",))
        self.engine = self.app.state.engine
        now = datetime.now(UTC)
        with self.app.state.sessions() as s, s.begin():
            if demo:
                seed_demo(s, now, password=PASSWORD, node_ids=["node-fuzz-1"])
                self.account = "demo"
            else:
                self.account = accounts.create_account(s, "fuzzer", now).name
            me = _account_id(s, self.account)
            shops.add_shop(
                s,
                me,
                shops.ShopIn(
                    code=SHOP,
                    platform="shopify",
                    api_url="https://fuzz.myshopify.com/admin/api/2025-01",
                    app_key=SHOP_DOMAIN,
                    app_secret=SHOP_SECRET,
                    session_key="shpat-fuzz",
                    start_from=now,
                ),
                now,
            )
            self.other_id = _other_seller(s, now)
        self.logins = 0
        self.login()
        from tests.cloud.api.test_tenancy import snapshot

        self.before = snapshot(self.engine, self.other_id)

    def login(self) -> None:
        """A fresh admin of the demo seller, logged in (cases may disable, re-password or log
        out the one before: that is theirs to do, and the run goes on as a new admin)."""
        from cloud import accounts

        self.logins += 1
        name = f"fuzz-admin-{self.logins}"
        with self.app.state.sessions() as s, s.begin():
            accounts.create_user(
                s, _account_id(s, self.account), name, PASSWORD, "admin", "fuzz", datetime.now(UTC)
            )
        r = self.client.post(
            "/api/v1/auth/token",
            data={"account": self.account, "username": name, "password": PASSWORD},
        )
        assert r.status_code == 200, r.text
        self.token = r.json()["access_token"]

    def send(self, req: Request) -> Any:
        response = super().send(req)
        if req.method != "GET" and response.status_code < 300 and "/users" in req.path:
            me = self.client.get(
                "/api/v1/auth/me", headers={"authorization": f"Bearer {self.token}"}
            )
            if me.status_code == 401:
                self.login()
        return response

    def finish(self) -> str | None:
        from tests.cloud.api.test_tenancy import snapshot

        after = snapshot(self.engine, self.other_id)
        changed = sorted(
            t for t in set(after) | set(self.before) if after.get(t) != self.before.get(t)
        )
        return f"the other seller's rows changed: {changed}" if changed else None


def _account_id(s: Any, name: str) -> int:
    from sqlalchemy import select

    from cloud.db.models import Account

    return int(s.execute(select(Account.id).where(Account.name == name)).scalar_one())


def _other_seller(s: Any, now: datetime) -> int:
    """A second seller with a warehouse, SKUs, stock and a Shopify shop of the same code."""
    from cloud import accounts
    from cloud.catalogue.skus import SkuIn, upsert_sku
    from cloud.channels import shops
    from cloud.stock.warehouses import WarehouseIn, create_warehouse

    other = accounts.create_account(s, "other-seller", now)
    s.flush()
    accounts.create_user(s, other.id, "other-admin", PASSWORD, "admin", "fuzz", now)
    create_warehouse(s, other.id, WarehouseIn(code="WH1", name="其他仓", kind="main"), "fuzz", now)
    for code in ("SKU-A", "B-SKU-1"):
        upsert_sku(s, SkuIn(sku_code=code, name=f"item {code}", barcodes=[f"BC-{code}"]), now, other.id)  # fmt: skip
    shop = shops.ShopIn(
        code=SHOP,
        platform="shopify",
        api_url="https://other.myshopify.com/admin/api/2025-01",
        app_key="other.myshopify.com",
        app_secret="shpss-other-secret",
        session_key="shpat-other",
        start_from=now,
    )
    shops.add_shop(s, other.id, shop, now)
    return int(other.id)


def _known(hub: Hub) -> dict[str, list[str]]:
    """Path parameter -> values that exist in the demo seller's rows."""
    from sqlalchemy import select

    from cloud.db.models import SalesOrder, Sku, StockMovement, User

    with hub.app.state.sessions() as s:
        return {
            "order_no": list(s.execute(select(SalesOrder.order_no)).scalars())[:5],
            "sku_code": list(s.execute(select(Sku.sku_code)).scalars())[:5],
            "movement_id": [str(i) for i in s.execute(select(StockMovement.id)).scalars()][:3],
            "user_id": [
                str(u)
                for u in s.execute(
                    select(User.public_id).where(User.username.not_like("fuzz-admin-%"))
                ).scalars()
            ][:3],
            "code": ["WH1", "SF", "ZTO", SHOP],
            "number": ["PO-2026-001"],
            "key": ["double11-sf", "default-zto"],
            "node_id": ["node-fuzz-1"],
            "shop_code": [SHOP],
        }


def _samples(
    app: App, known: dict[str, list[str]], bodies: dict[tuple[str, str], Any]
) -> list[bytes]:
    out = []
    for i, (method, template) in enumerate(app.routes):
        names = [m.group(1).split(":")[0] for m in _PARAM.finditer(template)]
        params = {n: (known.get(n) or ["1"])[i % len(known.get(n) or ["1"])] for n in names}
        case: dict[str, Any] = {"m": method, "t": template, "p": params, "q": {}, "h": {}, "a": 1}
        if (method, template) in bodies:
            case["b"] = bodies[(method, template)]
        out.append(json.dumps(case, ensure_ascii=False).encode())
    return out


_HUB: Hub | None = None


def hub() -> Hub:
    global _HUB
    if _HUB is None:
        _HUB = Hub()
    return _HUB


def hub_api(data: bytes) -> None:
    h = hub()
    req = decode(data, h.routes)
    h.judge(req, h.send(req))


def hub_samples() -> list[bytes]:
    from tests.cloud.api.test_tenancy import FOREIGN, LISTS, OWN

    h = hub()
    bodies: dict[tuple[str, str], Any] = {}
    for c in FOREIGN + OWN:
        if c.body is not None:
            bodies.setdefault((c.method, c.route), c.body)
    out = _samples(h, _known(h), bodies)
    for path, queries in LISTS.items():
        for q in queries:
            if q:
                out.append(
                    json.dumps({"m": "GET", "t": path, "q": q, "a": 1}, ensure_ascii=False).encode()
                )
    login = {"account": "demo", "username": "fuzz-admin-1", "password": PASSWORD}
    out.append(json.dumps({"m": "POST", "t": "/api/v1/auth/token", "f": login, "a": 0}).encode())
    return out


def hub_finish() -> str | None:
    return hub().finish()


# --- Shopify webhooks into the hub ------------------------------------------------------------


class Webhooks(Hub):
    """A hub receiving Shopify webhooks: every case is stored once (or is a duplicate of one
    stored) or refused and counted once."""

    def __init__(self) -> None:
        super().__init__(demo=False)
        self.stored: set[str] = set()
        self.refusals = 0

    def finish(self) -> str | None:
        from sqlalchemy import func, select

        from cloud.db.shopify import ChannelWebhookEvent, ChannelWebhookRejection

        with self.app.state.sessions() as s:
            rows = s.execute(select(func.count()).select_from(ChannelWebhookEvent)).scalar_one()
            counted = s.execute(select(func.coalesce(func.sum(ChannelWebhookRejection.count), 0))).scalar_one()  # fmt: skip
        problems = []
        if rows != len(self.stored):
            problems.append(f"{rows} webhook rows for {len(self.stored)} distinct events accepted")
        if counted != self.refusals:
            problems.append(f"{counted} rejections counted for {self.refusals} answered 401")
        return "; ".join(problems) or super().finish()


_WEBHOOKS: Webhooks | None = None


def webhooks() -> Webhooks:
    global _WEBHOOKS
    if _WEBHOOKS is None:
        _WEBHOOKS = Webhooks()
    return _WEBHOOKS


def _sign(secret: str, body: bytes) -> str:
    import hmac

    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def shopify_webhook(data: bytes) -> None:
    """The case's bytes are the body; its checksum picks the headers: validly signed (most
    cases), signed with another secret, another seller's secret, stale, from the future, with
    no event id, or for another shop's domain."""
    w = webhooks()
    pick = zlib.crc32(data) % 10
    now = datetime.now(UTC)
    event = hashlib.sha256(data).hexdigest()[:40]
    headers = {
        "x-shopify-hmac-sha256": _sign(SHOP_SECRET, data),
        "x-shopify-shop-domain": SHOP_DOMAIN,
        "x-shopify-topic": ("orders/create", "orders/updated", "orders/paid", "app/uninstalled")[pick % 4],
        "x-shopify-triggered-at": now.isoformat(),
        "x-shopify-event-id": event,
        "x-shopify-webhook-id": event,
        "content-type": "application/json",
    }  # fmt: skip
    if pick == 5:
        headers["x-shopify-hmac-sha256"] = _sign("not-the-secret", data)
    elif pick == 6:
        headers["x-shopify-hmac-sha256"] = _sign("shpss-other-secret", data)
    elif pick == 7:
        headers["x-shopify-triggered-at"] = (now - timedelta(days=3)).isoformat()
    elif pick == 8:
        headers["x-shopify-triggered-at"] = (now + timedelta(hours=1)).strftime("%d/%m/%Y")
        del headers["x-shopify-event-id"]
    elif pick == 9:
        headers["x-shopify-shop-domain"] = "other.myshopify.com"
    r = w.client.post(f"/api/v1/channels/webhooks/shopify/{SHOP}", content=data, headers=headers)
    if r.status_code == 200:
        if r.json().get("outcome") not in ("accepted", "duplicate", "ignored"):
            raise ServerError(f"an outcome no one knows: {r.text[:200]}")
        w.stored.add(event)
        return
    if r.status_code == 401:
        w.refusals += 1
        reason = r.json().get("reason", "")
        raise Refused(f"{r.json().get('detail', '')} ({reason})")
    w.judge(Request("POST", "/"), r)


def webhook_samples() -> list[bytes]:
    from tests.fuzz.kinds_answers import _ORDER

    order = json.dumps(_ORDER, ensure_ascii=False).encode()
    return [order, json.dumps({"id": 450789470, "email": "a@b.c"}).encode(), b"{}"]


def webhooks_finish() -> str | None:
    return webhooks().finish()


# --- the PDA's API on the edge node ----------------------------------------------------------


class Pda(App):
    """The pick API (and the PDA's pages) over a temporary edge store filled through the
    downlink, logged in as an operator."""

    def __init__(self) -> None:
        from edge.api.app import create_pick_app
        from edge.api.operators import GateSettings, Operator
        from edge.pins import hash_pin
        from edge.store.store import Store
        from tests.edge.api.conftest import NODE, PINS, STATION, fill

        self.db = _tmp("fuzz-pda-") / "edge.db"
        store = Store(self.db, NODE)
        fill(store)
        store.close()
        self.pins = PINS
        operators = [
            Operator(id="li.lei", name="李雷", pin_hash=hash_pin(PINS["li.lei"])),
            Operator(id="han.mei", name="韩梅梅", pin_hash=hash_pin(PINS["han.mei"])),
            Operator(id="viewer", pin_hash=hash_pin(PINS["viewer"]), roles=[]),
        ]
        # Locked out for a second only: a case's wrong PINs must not lock the run's operator out.
        gate = GateSettings(max_failures=3, lockout_s=1)
        app = create_pick_app(self.db, NODE, operators, station=STATION, gate_settings=gate)
        self.client = _client(app)
        self.routes = _routes(app, ("/api/", "/pda"))
        self.login()

    def login(self) -> None:
        r = self.client.post(
            "/api/v1/login", json={"operator": "han.mei", "pin": self.pins["han.mei"]}
        )
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]

    def send(self, req: Request) -> Any:
        response = super().send(req)
        if "logout" in req.path or (req.auth and response.status_code == 401):
            probe = self.client.get(
                "/api/v1/waves", headers={"authorization": f"Bearer {self.token}"}
            )
            if probe.status_code == 401:
                self.login()
        return response

    def finish(self) -> str | None:
        import sqlite3

        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
            seqs = [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
        finally:
            conn.close()
        problems = [] if check == "ok" else [f"integrity_check: {check}"]
        if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            problems.append("the outbox has a gap in its seqs")
        return "; ".join(problems) or None


_PDA: Pda | None = None


def pda() -> Pda:
    global _PDA
    if _PDA is None:
        _PDA = Pda()
    return _PDA


def pda_api(data: bytes) -> None:
    p = pda()
    req = decode(data, p.routes)
    p.judge(req, p.send(req))


def pda_samples() -> list[bytes]:
    from tests.edge.api.conftest import PINS, SKUS

    p = pda()
    known = {"wave": ["W1", "W2"], "kind": ["receive", "returns", "inbound"]}
    barcode = {"barcode": SKUS["A"]}
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/login"): {"operator": "li.lei", "pin": PINS["li.lei"]},
        ("POST", "/api/v1/scan"): barcode,
        ("POST", "/api/v1/counts/scan"): barcode,
        ("POST", "/api/v1/counts/start"): {"bin": "P1"},
        ("POST", "/api/v1/desks/{kind}/scan"): barcode,
        ("POST", "/api/v1/desks/{kind}/key"): {"key": "ok"},
        ("POST", "/api/v1/short"): {"qty": 1},
        ("POST", "/api/v1/substitute"): barcode,
    }
    return _samples(p, known, bodies)


def pda_finish() -> str | None:
    return pda().finish()
