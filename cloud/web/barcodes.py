"""A SKU's barcodes as images to scan and print: EAN-13 where the code is a valid EAN-13,
else Code 128, drawn server-side as SVG by python-barcode (MIT).

Why python-barcode and not a JS library: it is already a dependency of the project (the
PDA's command sheet, edge/pda/commands.py, and the simulators' label previews draw with it),
server-side SVG needs no script (the page prints as it is, also without JavaScript) and adds
nothing to the first load; a JS library (JsBarcode) would be one more vendored file.

The image is an ``<img>`` with a ``data:`` URI (the dashboard's CSP allows ``img-src data:``):
an SVG shown as an image runs no script and loads nothing, whatever the code says.
"""

from __future__ import annotations

import base64
import functools
import io
from dataclasses import dataclass
from typing import Literal

Symbology = Literal["EAN-13", "Code 128"]


@dataclass(frozen=True)
class Drawn:
    code: str
    symbology: Symbology
    #: ``data:image/svg+xml;base64,…``
    uri: str


def is_ean13(code: str) -> bool:
    """13 digits whose last is the GS1 check digit (GS1 General Specifications §7.9.1, the
    mod-10 algorithm python-barcode computes)."""
    if len(code) != 13 or not code.isascii() or not code.isdigit():
        return False
    from barcode import EAN13

    return str(EAN13(code[:12]).get_fullcode()) == code


def _code128able(code: str) -> bool:
    # Code 128 encodes ASCII (ISO/IEC 15417 §4.1); printable characters only here.
    return all(32 <= ord(c) < 127 for c in code)


@functools.lru_cache(maxsize=2048)
def draw(code: str) -> Drawn | None:
    """The barcode ``code`` as an SVG image, or None when Code 128 cannot carry it (a code
    with characters outside ASCII: the page shows it as text only)."""
    from barcode import EAN13, Code128
    from barcode.writer import SVGWriter

    symbology: Symbology
    if is_ean13(code):
        symbol, symbology = EAN13(code[:12], writer=SVGWriter()), "EAN-13"
    elif _code128able(code):
        symbol, symbology = Code128(code, writer=SVGWriter()), "Code 128"
    else:
        return None
    out = io.BytesIO()
    # Modules of 0.33 mm (GS1's nominal X-dimension for EAN-13 is 0.33 mm), the quiet
    # zones python-barcode adds, and the human-readable line under the bars.
    symbol.write(
        out,
        options={"module_width": 0.33, "module_height": 15.0, "font_size": 8, "compress": False},
    )
    uri = "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")
    return Drawn(code, symbology, uri)
