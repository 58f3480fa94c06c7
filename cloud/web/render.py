"""Rendering: one Jinja2 environment per language, autoescaped (a buyer's remark or a SKU
name is shown as text, never as markup: OWASP XSS Prevention, rule 1)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cloud.errors import Said, say
from cloud.orders.audit_rules import CHINA
from cloud.orders.reasons import actor_in, line_in, reason_in
from cloud.orders.trade_words import unusable_in
from cloud.web import i18n
from cloud.web.alarms import alarm_in
from cloud.web.channel_words import run_error_in
from cloud.web.ledger_words import account_name_in, kind_in, memo_in
from cloud.web.session import PREFIX, WebUser

TEMPLATES = Path(__file__).with_name("templates")
#: What ``getattr`` finds on a plain dict: its methods and dunders (``d.items``).
_DICT_ATTRIBUTES: Final = frozenset(dir(dict))


class _Environment(Environment):
    """Jinja2's environment, with ``row.field`` on a plain dict looked up by key at once.

    The pages' rows are dicts (cloud/orders/views.py, cloud/stock/views.py); Jinja2's
    ``getattr`` tries the attribute first and reaches the key only after an AttributeError
    was raised and caught, for every field of every row: 14 % of the order list's CPU
    (issue 20, S35). The answer is the one Jinja2 gives: a dict's own attributes still win
    (``d.items``), a missing key is the same Undefined."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def money(cents: int | None) -> str:
    """Cents as yuan with two decimals (money is Decimal, never float)."""
    if cents is None:
        return ""
    return f"{(Decimal(cents) / 100).quantize(Decimal('0.01'))}"


def when(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored time as the seller reads it: China time, the zone of the audit day and of the
    home page's cut-off (audit_rules.CHINA). Every time is stored in UTC (cloud/db/models.py);
    SQLite gives it back naive, and ISO text without an offset is UTC too."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)[:19].replace("T", " ")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA).strftime(fmt)


def _reason(gettext: Callable[[str], str], d: dict[str, Any]) -> str:
    return reason_in(d.get("message"), d.get("params"), d.get("reason") or "", gettext)


def _line(gettext: Callable[[str], str], h: Any) -> str:
    """A history line: a row as a mapping (cloud/orders/views.py) or as an object."""
    get = h.get if isinstance(h, dict) else functools.partial(getattr, h)
    return line_in(get("message"), get("params"), get("reason"), gettext)


def _change(gettext: Callable[[str], str], c: dict[str, Any]) -> str:
    """A channel change's detail (cloud/channels/views.py ``changes``): our sentence said; an
    address change held for an unusable address, intake's English said too
    (cloud/orders/trade_words.py); a marketplace's own words as they are."""
    if not c.get("message") and c.get("kind") == "address":
        return unusable_in(c.get("reason") or "", gettext)
    return _line(gettext, c)


def _said(gettext: Callable[[str], str], s: Said | str) -> str:
    """A sentence the domain returned (``cloud.errors.sentence``) in the page's language."""
    return say(str(s["msgid"]), s.get("params") or {}, gettext) if isinstance(s, dict) else s


def _reasons(gettext: Callable[[str], str], ds: list[dict[str, Any]]) -> str:
    return "; ".join(_reason(gettext, d) for d in ds)


@functools.cache
def environment(locale: str) -> Environment:
    env = _Environment(
        loader=FileSystemLoader(TEMPLATES),
        # The templates ship with the code and change only with a restart; checking each
        # one's mtime on every render (Jinja2's default) cost a stat per template and page.
        auto_reload=False,
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = money
    env.filters["when"] = when
    # A stored text shown as it is unless the catalogue knows it (a fixed reason of the
    # audit: "stock reserved"): plain gettext, no %-formatting of text that may hold a "%".
    env.filters["known"] = i18n.translations(locale).gettext
    # An audit decision's reason from its message id and parameters (migration 0046).
    env.filters["reason"] = functools.partial(_reason, i18n.translations(locale).gettext)
    env.filters["reasons"] = functools.partial(_reasons, i18n.translations(locale).gettext)
    # An order's history line: a sentence the hub wrote, or a person's words as typed (0048).
    env.filters["line"] = functools.partial(_line, i18n.translations(locale).gettext)
    # A channel change's detail: intake's English about an unusable address said too.
    env.filters["change"] = functools.partial(_change, i18n.translations(locale).gettext)
    env.filters["said"] = functools.partial(_said, i18n.translations(locale).gettext)
    # Who did it: the hub's own actors by a name in the page's language, a person by their
    # login, a node as "节点 ID" (cloud/errors.py ``actor_in``; English: as stored).
    env.filters["actor"] = functools.partial(actor_in, gettext=i18n.translations(locale).gettext)
    # A node's alarm: the edge's English read as a sentence (cloud/web/alarms.py).
    env.filters["alarm"] = lambda text: alarm_in(text, i18n.translations(locale).gettext)
    # A journal entry's kind and the poster's memo (cloud/web/ledger_words.py).
    env.filters["event_kind"] = lambda kind: kind_in(kind, i18n.translations(locale).gettext)
    # A channel run's error: the clients' "no answer" said (cloud/web/channel_words.py).
    env.filters["run_error"] = lambda e: run_error_in(e, i18n.translations(locale).gettext)
    env.filters["account_name"] = functools.partial(
        account_name_in, chinese=locale == "zh_CN", gettext=i18n.translations(locale).gettext
    )
    env.filters["memo"] = lambda memo: memo_in(memo, i18n.translations(locale).gettext)
    env.globals["P"] = PREFIX
    return env


def locale_of(request: Request) -> str:
    return i18n.pick(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: WebUser | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    locale = locale_of(request)
    ctx = {
        "request": request,
        "user": user,
        "csrf": user.csrf if user is not None else "",
        "locale": locale,
        "html_lang": i18n.HTML_LANG[locale],
        "path": request.url.path,
        **(context or {}),
    }
    html = environment(locale).get_template(template).render(ctx)
    resp = HTMLResponse(html, status_code=status, headers=headers)
    # Pages show one seller's data: no shared cache may keep them; none may frame them.
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    return resp
