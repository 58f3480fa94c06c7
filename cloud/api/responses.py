"""A JSON response for rows the domain code already shaped (``cloud/orders/views.py``).

Routes that return one declare the shape as their ``response_model``: the OpenAPI document
is the same, and the schema tests (schemathesis) check every answer against it. What it
skips is FastAPI validating the rows again and pydantic encoding them, which cost more than
the query on the busiest reads.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response


class JsonRows(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # UTC as "Z", as pydantic writes it, so both kinds of route agree on the wire.
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)
