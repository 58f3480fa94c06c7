"""Languages of the pages: Simplified Chinese first (the sellers'), English selectable.

Messages are gettext (Babel): cloud/web/locales/zh_CN/LC_MESSAGES/messages.po, read at start
(no compiled .mo to keep in step). A test fails when a message of the templates is missing
from the catalogue, untranslated or fuzzy (tests/cloud/web/test_i18n.py).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES: Final = ("zh_CN", "en")
DEFAULT: Final = "zh_CN"
#: The ``lang`` attribute of each (BCP 47, as HTML wants it; gettext's names use "_").
HTML_LANG: Final = {"zh_CN": "zh-CN", "en": "en"}
COOKIE: Final = "guanjia_lang"
CATALOGUES: Final = Path(__file__).with_name("locales")


def pick(cookie: str | None, accept: str | None) -> str:
    """The chosen locale: the cookie, else the browser's first known language, else Chinese.
    "zh", "zh-CN" and "zh-Hans-CN" are all zh_CN (Babel would negotiate zh_Hans_CN)."""
    if cookie in LOCALES:
        return cookie
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


@functools.cache
def translations(locale: str) -> NullTranslations:
    po = CATALOGUES / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()  # English: the messages are written in English
    with po.open("rb") as f:
        catalogue = read_po(f, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalogue)
    buf.seek(0)
    return Translations(buf)
