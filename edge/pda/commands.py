"""Printed command barcodes (docs/pda.md, "Command barcodes"): a picker never has to touch
the screen. Code 39-safe (capitals, digits, '-'), so any scanner reads them, and no bin
or item barcode can be one: they start with ``GJCMD-``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

from edge.pda.i18n import N_

PREFIX = "GJCMD-"


@dataclass(frozen=True, slots=True)
class Command:
    code: str
    #: the action name the page's JavaScript branches on
    action: str
    #: the printed Chinese word (the label operators know) and an English gloss
    zh: str
    en: str


COMMANDS: tuple[Command, ...] = (
    Command(PREFIX + "CONFIRM", "confirm", "确认", N_("confirm")),
    Command(PREFIX + "SHORT", "short", "缺货", N_("short")),
    Command(PREFIX + "SKIP", "skip", "跳过", N_("skip")),
    Command(PREFIX + "SUBST", "substitute", "替代", N_("substitute")),
    Command(PREFIX + "LOGOUT", "logout", "退出", N_("log out")),
)


@lru_cache(maxsize=16)
def svg(code: str) -> str:
    """Code 128 of ``code`` as an inline SVG (python-barcode's SVG writer, no text line:
    the page prints the word in large type beside it)."""
    from barcode import Code128
    from barcode.writer import SVGWriter

    out = BytesIO()
    Code128(code, writer=SVGWriter()).write(
        out,
        options={"write_text": False, "module_height": 14.0, "quiet_zone": 4.0, "compress": False},
    )
    text = out.getvalue().decode()
    # Inline in the HTML page: drop the XML prolog and doctype.
    return text[text.index("<svg") :]
