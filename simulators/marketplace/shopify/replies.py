"""What the Shopify simulator's Admin API modules share (shopify/admin.py, shopify/moves.py):
its replies, its errors, and how it numbers fulfillment orders."""

from __future__ import annotations

from typing import Any

import orjson

#: Fulfillment order ids: the order's id plus this for its first; the others of a split
#: order (one per location its units were taken from) count from SPLIT_FO.
FO_OFFSET = 17
SPLIT_FO = 9_000_000_000

Headers = list[tuple[str, str]]
Reply = tuple[int, Headers, bytes]


class ApiError(Exception):
    def __init__(self, status: int, errors: Any, headers: Headers | None = None) -> None:
        super().__init__(str(errors))
        self.status, self.errors, self.headers = status, errors, headers or []


def ok(body: Any, headers: Headers | None = None) -> Reply:
    return (
        200,
        [("Content-Type", "application/json; charset=utf-8"), *(headers or [])],
        (orjson.dumps(body)),
    )
