"""The printer simulator's PNG preview of a label: the drawing is protocol's
(protocol/devices/zpl_image.py, shared with the hub's label PNG); this module finds a font
on the machine (a CJK-capable one if there is one, else the best found, never an exception)
and writes the file."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageFont

from protocol.devices import zpl_image
from protocol.devices.zpl import LabelLayout
from protocol.devices.zpl_image import AnyFont

log = logging.getLogger(__name__)

FONT_DIRS = (*(Path(d) for d in zpl_image.FONT_DIRS), Path.home() / ".fonts")


def _font_files(dirs: Iterable[Path]) -> list[str]:
    out: list[str] = []
    for d in dirs:
        try:
            out += [str(p) for p in d.rglob("*") if p.suffix.lower() in zpl_image.FONT_SUFFIXES]
        except OSError:
            continue
    return out


@lru_cache(maxsize=1)
def find_font() -> tuple[Path | None, bool]:
    """(font file, has CJK glyphs); (None, False) if there is no TrueType font at all."""
    path, cjk = zpl_image.rank_fonts(_font_files(FONT_DIRS))
    return (Path(path) if path else None), cjk


@lru_cache(maxsize=32)
def _font(size: int) -> AnyFont:
    path, _cjk = find_font()
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError as err:
            log.warning("font %s unusable (%s); using Pillow's default", path, err)
    return ImageFont.load_default(size)


def render_layout(layout: LabelLayout) -> Image.Image:
    """The label as a 1-bit-looking grayscale image, width x length dots."""
    problems: list[str] = []
    img = zpl_image.render_layout(layout, _font, problems)
    for p in problems:
        log.warning("%s", p)
    return img


def write_png(layout: LabelLayout, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_layout(layout).save(path, format="PNG")
    return path
