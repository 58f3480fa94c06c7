"""Draw a parsed ZPL label (protocol.devices.zpl.LabelLayout) as a PNG, one pixel per dot.

The waybill barcode is encoded and drawn by python-barcode (Code 128, its
ImageWriter on Pillow) at the label's module width, so the PNG scans like
the printed label. Text uses a CJK-capable font if the machine has one;
otherwise the best font found, and never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from protocol.devices.zpl import BarcodeField, BoxField, LabelLayout, TextField

log = logging.getLogger(__name__)

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
# Substrings of font file names that carry Chinese glyphs, best first.
CJK_HINTS = (
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
PLAIN_HINTS = ("dejavusans.ttf", "liberationsans-regular", "freesans")

AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _font_files(dirs: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for d in dirs:
        try:
            out += [p for p in d.rglob("*") if p.suffix.lower() in (".ttf", ".ttc", ".otf")]
        except OSError:
            continue
    return sorted(out)


@lru_cache(maxsize=1)
def find_font() -> tuple[Path | None, bool]:
    """(font file, has CJK glyphs); (None, False) if there is no TrueType font at all."""
    files = _font_files(FONT_DIRS)
    for hints, cjk in ((CJK_HINTS, True), (PLAIN_HINTS, False)):
        for hint in hints:
            for f in files:
                if hint in f.name.lower().replace(" ", ""):
                    return f, cjk
    return (files[0], False) if files else (None, False)


@lru_cache(maxsize=32)
def _font(size: int) -> AnyFont:
    path, _cjk = find_font()
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError as err:
            log.warning("font %s unusable (%s); using Pillow's default", path, err)
    return ImageFont.load_default(size)


def _barcode(field: BarcodeField) -> Image.Image:
    # Imported here so a missing python-barcode degrades to a placeholder
    # box rather than a dead simulator.
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


def render_layout(layout: LabelLayout) -> Image.Image:
    """The label as a 1-bit-looking grayscale image, width x length dots."""
    w = max(1, min(layout.width, 4000))
    h = max(1, min(layout.length, 8000))
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    for f in layout.fields:
        try:
            if isinstance(f, BoxField):
                draw.rectangle((f.x, f.y, f.x + f.width - 1, f.y + f.height - 1), fill=0)
            elif isinstance(f, TextField):
                _draw_text(draw, f)
            elif isinstance(f, BarcodeField):
                _draw_barcode(img, draw, f)
        except Exception as err:  # a preview must never take the simulator down
            log.warning("cannot draw %r: %s", f, err)
            draw.rectangle((f.x, f.y, f.x + 40, f.y + 40), outline=0)
    return img


def _draw_text(draw: ImageDraw.ImageDraw, f: TextField) -> None:
    font = _font(max(6, f.height))
    if not f.block_width:
        draw.text((f.x, f.y), f.text, font=font, fill=0)
        return
    # ^FB: wrap into the block width, at most 3 lines (as build_label asks).
    lines: list[str] = []
    line = ""
    for ch in f.text:
        if draw.textlength(line + ch, font=font) > f.block_width and line:
            lines.append(line)
            line = ch
        else:
            line += ch
    lines.append(line)
    for i, text in enumerate(lines[:3]):
        draw.text((f.x, f.y + i * (f.height + 4)), text, font=font, fill=0)


def _draw_barcode(img: Image.Image, draw: ImageDraw.ImageDraw, f: BarcodeField) -> None:
    bars = _barcode(f)
    # ^FO is the top-left of the bars; the quiet zone sits left of it.
    img.paste(bars, (f.x - 10 * f.module, f.y))
    if f.interpretation:
        font = _font(max(12, 8 * f.module))
        mid = f.x + bars.width // 2 - 10 * f.module
        draw.text((mid, f.y + f.height + 4), f.data, font=font, fill=0, anchor="ma")


def write_png(layout: LabelLayout, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_layout(layout).save(path, format="PNG")
    return path
