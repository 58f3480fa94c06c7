"""Languages of the PDA pages: Chinese (zh_CN) first, English selectable (docs/pda.md).

Messages are English msgids translated in ``locales/zh_CN/LC_MESSAGES/messages.po``; the
compiled ``.mo`` is committed beside it and a test checks it is current and complete
(tests/edge/pda/test_i18n.py). English is the msgids themselves. The choice is a
``?lang=`` link, kept in a cookie; Accept-Language is not consulted: a warehouse's
handhelds are set up once, and Chinese is the default whatever the browser says.
"""

from __future__ import annotations

import gettext as _gettext
from functools import lru_cache
from pathlib import Path
from typing import Final

from babel.support import NullTranslations, Translations

LOCALES_DIR: Final = Path(__file__).with_name("locales")
DOMAIN: Final = "messages"
DEFAULT: Final = "zh_CN"
#: locale -> (the ``lang`` attribute, the name shown in the switcher, in its own language)
LANGUAGES: Final[dict[str, tuple[str, str]]] = {
    "zh_CN": ("zh-CN", "中文"),
    "en": ("en", "English"),
}
COOKIE: Final = "pda_lang"


def N_(message: str) -> str:
    """Marks a message for extraction; translated later, where the locale is known."""
    return message


def choose(query: str | None, cookie: str | None) -> str:
    for value in (query, cookie):
        if value in LANGUAGES:
            return value
    return DEFAULT


@lru_cache(maxsize=len(LANGUAGES))
def translations(locale: str) -> _gettext.NullTranslations:
    if locale == "en":
        return NullTranslations()
    found = Translations.load(str(LOCALES_DIR), [locale], DOMAIN)
    if not isinstance(found, Translations):  # a missing catalogue must not pass silently
        raise FileNotFoundError(f"no compiled {DOMAIN}.mo for {locale} under {LOCALES_DIR}")
    return found
