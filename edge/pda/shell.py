"""The app shell a service worker may keep (docs/pda.md "Offline on the LAN"): its version,
which changes whenever a file the pages are made of changes, and what it holds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from edge.pda.render import STATIC, TEMPLATES, static_url

LOCALES = Path(__file__).with_name("locales")
SW_SOURCE = STATIC / "js" / "sw.js"

#: The pages (shells with no operator data, edge/pda/routes.py) kept for a reload offline.
PAGES = (
    "/pda",
    "/pda/login",
    "/pda/waves",
    "/pda/pick",
    "/pda/lookup",
    "/pda/count",
    "/pda/inbound",
    "/pda/receive",
    "/pda/returns",
)
#: Files the pages link with a versioned URL (base.html); the modules pda.js imports are
#: fetched by their plain path (relative imports carry no ``?v=``).
LINKED = ("pda.css", "vendor/htmx.min.js", "js/pda.js")


def version(*roots: Path) -> str:
    """A digest of every file under ``roots`` (names and contents): the service worker's
    cache name carries it, so a changed file means a new cache and the old one deleted."""
    digest = hashlib.sha256()
    for root in roots or (STATIC, TEMPLATES, LOCALES):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def files() -> list[str]:
    modules = sorted(p.name for p in (STATIC / "js").glob("*.js") if p != SW_SOURCE)
    return [static_url(f) for f in LINKED] + [f"/pda/static/js/{m}" for m in modules]


def worker_script(shell_version: str) -> str:
    """The service worker: this shell's manifest, then the hand-written ``static/js/sw.js``."""
    manifest = {"version": shell_version, "pages": list(PAGES), "files": files()}
    return f"const SHELL = {orjson.dumps(manifest).decode()};\n" + SW_SOURCE.read_text("utf-8")
