"""ZPL II item barcode labels for the receiving station's QC table (入库质检: 打印条形码).

One small label per unit: the SKU code and name as text, the item's Code 128 barcode
and, for a serial-tracked unit, a second Code 128 barcode with its serial. Sans-I/O:
a typed :class:`ItemLabel` in, one ``^XA ... ^XZ`` format out, as
:func:`protocol.devices.zpl.build_label` does for courier labels. Command names below
are the headings of the Zebra *ZPL II Programming Guide* (P1012728).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from protocol.devices.zpl import LabelStock, _text, code128_module_estimate

#: What a ``^BC`` field takes here: printable ASCII without the two command prefixes
#: (``^``, ``~``: ^FD "Field Data") and without ``>``, which ^BC reads as an invocation
#: character (^BC, "Code 128 Subsets"). A SKU code in Chinese cannot be a Code 128
#: symbol at all (ISO/IEC 15417 encodes ASCII only): its label carries the SKU's
#: barcode instead, and the code as text.
CODE128_RE: Final = re.compile(r"[!-=?-\]_-}]{1,48}")

#: 60 x 40 mm direct-thermal item labels on an 8 dots/mm (203 dpi) head.
ITEM_STOCK: Final = LabelStock(width_dots=480, length_dots=320, dots_per_mm=8)


def code128_safe(text: str) -> bool:
    return CODE128_RE.fullmatch(text) is not None


@dataclass(frozen=True)
class ItemLabel:
    """What an item label shows. ``barcode`` is Code 128 data (the SKU code when it is
    ASCII, else one of the SKU's barcodes); ``serial`` only for serial-tracked units."""

    sku_code: str
    name: str
    barcode: str
    serial: str | None = None

    def __post_init__(self) -> None:
        if not code128_safe(self.barcode):
            raise ValueError(f"barcode {self.barcode!r} cannot be a Code 128 field")
        if self.serial is not None and not code128_safe(self.serial):
            raise ValueError(f"serial {self.serial!r} cannot be a Code 128 field")


def build_item_label(label: ItemLabel, stock: LabelStock = ITEM_STOCK) -> bytes:
    """One complete ZPL II format for ``label``: exactly one label (``^PQ1``)."""
    d = stock.dots_per_mm
    margin = 2 * d
    inner = stock.width_dots - 2 * margin
    out = bytearray(b"^XA\n^CI28\n")  # ^CI28: field data is UTF-8
    out += f"^PW{stock.width_dots}\n^LL{stock.length_dots}\n^LH0,0\n".encode()
    out += _text(margin, margin, 3 * d, label.sku_code, stock)
    out += _text(margin, margin + 4 * d, 3 * d, label.name[:40], stock)
    rows = [label.barcode] if label.serial is None else [label.barcode, label.serial]
    bar_h = (7 if label.serial is not None else 14) * d
    y = margin + 9 * d
    for data in rows:
        # ^BY narrow bar: widest that fits with a 10-module quiet zone each side
        # (ISO/IEC 15417 section 4.4.2), at most 2 dots on this small stock.
        modules = code128_module_estimate(data) + 20
        module = max(1, min(2, inner // modules))
        x = margin + max(0, (inner - modules * module) // 2) + 10 * module
        out += f"^BY{module},3,{bar_h}\n".encode()
        out += f"^FO{x},{y}^BCN,{bar_h},Y,N,N,A^FD".encode() + data.encode("ascii") + b"^FS\n"
        y += bar_h + 5 * d
    out += b"^PQ1\n^XZ\n"
    return bytes(out)
