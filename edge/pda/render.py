"""Jinja2 rendering: one environment per language, static URLs with a content digest."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from edge.pda import i18n
from edge.pda.commands import COMMANDS
from edge.pda.messages import DESK_PAGES, js_messages, station_sentences

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

#: A scanner's double read: the same code again within this many ms is dropped by the page
#: (Odoo's barcode app uses 100 ms; docs/pda.md "Scan input").
DOUBLE_READ_MS = 100


@lru_cache(maxsize=64)
def static_url(path: str) -> str:
    digest = hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    return f"/pda/static/{path}?v={digest}"


@lru_cache(maxsize=len(i18n.LANGUAGES))
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["static"] = static_url
    return env


def render(locale: str, template: str, context: dict[str, Any]) -> str:
    return environment(locale).get_template(template).render(context)


def _json_script(value: object) -> Markup:
    # Inside <script type="application/json">: "</" must not close the element.
    text = orjson.dumps(value).decode().replace("</", "<\\/")
    return Markup(text)  # JSON with "</" escaped, in a script that is never executed


def service_worker(request: Request) -> dict[str, str] | None:
    """Where the page registers the service worker, or None: the node's setting is off
    (``mount_pda(service_worker=...)``). The version in the URL makes a new worker (and a
    new cache) when the shell's files change."""
    state = request.app.state
    if not getattr(state, "pda_service_worker", False):
        return None
    return {"url": f"/pda/sw.js?v={state.pda_shell_version}", "scope": "/pda"}


def page_context(request: Request, page: str) -> dict[str, Any]:
    locale = i18n.choose(request.query_params.get("lang"), request.cookies.get(i18n.COOKIE))
    lang_attr, _ = i18n.LANGUAGES[locale]
    config = {
        "page": page,
        "locale": locale,
        "doubleReadMs": DOUBLE_READ_MS,
        "commands": {c.code: c.action for c in COMMANDS},
        "text": js_messages(i18n.translations(locale)),
        # The stations' sentences (edge/stations/sentences.py), for the pages that show them.
        "said": station_sentences(i18n.translations(locale)) if page in DESK_PAGES else {},
        "serviceWorker": service_worker(request),
    }
    return {
        "request": request,
        "page": page,
        "locale": locale,
        "lang_attr": lang_attr,
        "languages": i18n.LANGUAGES,
        "config_json": _json_script(config),
    }
