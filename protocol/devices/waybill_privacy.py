"""What a printed courier label may show of the recipient (隐私面单, the privacy waybill).

GB/T 41833-2022 《快递电子运单》 (Express electronic waybill; in force since 2023) forbids printing a
recipient's full personal information on the waybill: at least one character of the name,
at least six digits of the phone number, and the unit and room number of the address are
hidden. The courier reaches the recipient through the waybill number (its app dials a
relay number), so the label needs only enough to sort and to match a parcel to a person at
the door. The whole record stays in the order; only what is printed is masked.

Pure functions of text, no I/O: the label renderer (:func:`protocol.devices.zpl.build_label`)
applies them, so every printer and every preview shows the same masked text.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "*"

#: Digits hidden in a phone number, at least (GB/T 41833-2022: "hide six or more digits").
PHONE_HIDDEN_MIN: Final = 6
#: Digits left visible at the end of a long enough number: the last four, which couriers
#: and buyers use to tell parcels apart at a pick-up point.
PHONE_SHOWN_MAX: Final = 4

# The building part of a Chinese street address: everything up to the last building,
# entrance or floor marker (栋, 幢, 座, 号楼, 单元, 楼, 层). What follows it is the unit and
# room number the standard hides ("3栋2单元501室" keeps "3栋2单元").
_BUILDING: Final = re.compile(r"^(.*(?:号楼|栋|幢|座|单元|楼|层))(.+)$", re.DOTALL)
# A room number at the very end without a building marker before it: "…8号501室".
_ROOM: Final = re.compile(r"^(.*?)(\d+\s*(?:室|房|户))$", re.DOTALL)


def mask_name(name: str) -> str:
    """The first character and a mask for the rest ("张三" → "张*", "欧阳娜娜" → "欧***").

    A one-character name is masked whole: the standard wants at least one character hidden.
    """
    name = name.strip()
    if not name:
        return ""
    if len(name) == 1:
        return MASK
    return name[0] + MASK * (len(name) - 1)


def mask_phone(phone: str) -> str:
    """At most the last four digits shown, at least six hidden ("13800138000" → "*******8000").

    Separators (spaces, dashes, a leading "+") keep their places, so "+86 138 0013 8000" still
    reads as a phone number; a string without digits is printed as it is (it holds no number).
    """
    digits = [i for i, ch in enumerate(phone) if ch.isdigit()]
    shown = max(0, min(PHONE_SHOWN_MAX, len(digits) - PHONE_HIDDEN_MIN))
    hide = set(digits[: len(digits) - shown])
    return "".join(MASK if i in hide else ch for i, ch in enumerate(phone))


def mask_address(address: str) -> str:
    """The unit and room number hidden: "幸福里3栋2单元501室" → "幸福里3栋2单元****".

    The street and building stay, which is what sorting and the last mile need. An address
    without a building or room marker is printed as it is: there is no unit number in it to
    hide, and guessing would hide the street number the courier needs.
    """
    m = _BUILDING.match(address)
    if m and any(ch.isalnum() for ch in m.group(2)):
        return m.group(1) + MASK * 4
    m = _ROOM.match(address)
    if m:
        return m.group(1) + MASK * 4
    return address
