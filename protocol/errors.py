"""Errors and sentinels shared by every sans-I/O codec in :mod:`protocol`.

The style follows h11/wsproto: a decoder is fed bytes and either returns a
typed message, returns :data:`NEED_DATA` when the input is incomplete, or
raises :class:`RemoteProtocolError` saying what was wrong with the bytes.
"""

from __future__ import annotations

import enum
from typing import Final


class RemoteProtocolError(ValueError):
    """The peer sent bytes that break the protocol; the message says how."""


class _NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"

    def __repr__(self) -> str:
        return "NEED_DATA"


NeedData = _NeedData
#: Returned by stream decoders when more bytes are needed to finish a message.
NEED_DATA: Final = _NeedData.NEED_DATA
