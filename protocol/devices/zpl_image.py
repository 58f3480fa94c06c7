"""Draw a parsed ZPL label (zpl.LabelLayout) as a Pillow image, one pixel per dot.

Pure: no file, clock or logging. The caller loads the font (:data:`FontFor`, a size in dots →
a Pillow font) and encodes the image; :func:`rank_fonts` picks the best of the font files the
caller listed. Used by the printer simulator (simulators/devices/zpl_render.py, which writes
the PNG preview) and by the hub's label PNG (cloud/orders/label.py), so the picture a seller
sees is the one the simulated pack station prints.

The waybill barcode is encoded and drawn by python-barcode (Code 128, its ImageWriter on
Pillow) at the label's module width, so the PNG scans like the printed label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from protocol.devices.zpl import (
    BarcodeField,
    BoxField,
    LabelFormat,
    LabelLayout,
    TextField,
    decode_all,
    interpret,
)

AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont
#: A font of ``size`` dots (the caller opens the file and caches the fonts).
FontFor = Callable[[int], AnyFont]

#: Where fonts usually are on Linux (the caller lists them: listing is I/O).
FONT_DIRS: Final = ("/usr/share/fonts", "/usr/local/share/fonts")
FONT_SUFFIXES: Final = (".ttf", ".ttc", ".otf")
# Substrings of font file names that carry Chinese glyphs, best first.
CJK_HINTS: Final = (
    "notosanscjk",
    "notosanssc",
    "sourcehansans",
    "wqy-zenhei",
    "wqy-microhei",
    "droidsansfallback",
    "uming",
    "ukai",
    "simsun",
    "simhei",
    "msyh",
)
PLAIN_HINTS: Final = ("dejavusans.ttf", "liberationsans-regular", "freesans")
#: Largest image drawn (a hostile ^PW/^LL must not allocate gigabytes).
MAX_WIDTH: Final = 4000
MAX_LENGTH: Final = 8000


def rank_fonts(files: Iterable[str]) -> tuple[str | None, bool]:
    """(best font file, has CJK glyphs) among ``files``; (None, False) when there is none."""
    names = sorted(files)
    for hints, cjk in ((CJK_HINTS, True), (PLAIN_HINTS, False)):
        for hint in hints:
            for f in names:
                if hint in f.rsplit("/", 1)[-1].lower().replace(" ", ""):
                    return f, cjk
    return (names[0], False) if names else (None, False)


def layouts(zpl: bytes) -> list[LabelLayout]:
    """Every label format in a ZPL stream, as it would print."""
    return [interpret(e) for e in decode_all(zpl) if isinstance(e, LabelFormat)]


def _barcode(field: BarcodeField) -> Image.Image:
    import barcode
    from barcode.writer import ImageWriter

    # python-barcode sizes in mm at a dpi; 25.4 dpi makes 1 mm = 1 px = 1 dot,
    # so module widths land on whole pixels exactly as the printer burns them.
    writer = ImageWriter(dpi=25.4)
    code = barcode.Code128(field.data, writer=writer)
    img = code.render(
        writer_options={
            "module_width": float(field.module),
            "module_height": float(field.height),
            "quiet_zone": 10.0 * field.module,
            "write_text": False,
            "margin_top": 0.0,
            "margin_bottom": 0.0,
            "dpi": 25.4,
        }
    )
    assert isinstance(img, Image.Image)
    return img.convert("L")


def render_layout(
    layout: LabelLayout, font: FontFor, problems: list[str] | None = None
) -> Image.Image:
    """The label as a 1-bit-looking grayscale image, width x length dots. A field that cannot
    be drawn becomes an outlined box and a line in ``problems``: a preview never fails."""
    w = max(1, min(layout.width, MAX_WIDTH))
    h = max(1, min(layout.length, MAX_LENGTH))
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    for f in layout.fields:
        try:
            if isinstance(f, BoxField):
                draw.rectangle((f.x, f.y, f.x + f.width - 1, f.y + f.height - 1), fill=0)
            elif isinstance(f, TextField):
                _draw_text(draw, f, font)
            elif isinstance(f, BarcodeField):
                _draw_barcode(img, draw, f, font)
        except Exception as err:  # a preview must never take its caller down
            if problems is not None:
                problems.append(f"cannot draw {f!r}: {err}")
            draw.rectangle((f.x, f.y, f.x + 40, f.y + 40), outline=0)
    return img


def _draw_text(draw: ImageDraw.ImageDraw, f: TextField, font: FontFor) -> None:
    face = font(max(6, f.height))
    if not f.block_width:
        draw.text((f.x, f.y), f.text, font=face, fill=0)
        return
    # ^FB: wrap into the block width, at most 3 lines (as build_label asks).
    lines: list[str] = []
    line = ""
    for ch in f.text:
        if draw.textlength(line + ch, font=face) > f.block_width and line:
            lines.append(line)
            line = ch
        else:
            line += ch
    lines.append(line)
    for i, text in enumerate(lines[:3]):
        draw.text((f.x, f.y + i * (f.height + 4)), text, font=face, fill=0)


def _draw_barcode(
    img: Image.Image, draw: ImageDraw.ImageDraw, f: BarcodeField, font: FontFor
) -> None:
    bars = _barcode(f)
    # ^FO is the top-left of the bars; the quiet zone sits left of it.
    img.paste(bars, (f.x - 10 * f.module, f.y))
    if f.interpretation:
        mid = f.x + bars.width // 2 - 10 * f.module
        face = font(max(12, 8 * f.module))
        draw.text((mid, f.y + f.height + 4), f.data, font=face, fill=0, anchor="ma")
