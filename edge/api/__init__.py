"""The edge's JSON HTTP API on the LAN (FastAPI): the pick station for PDAs (docs/pick-api.md)."""

from __future__ import annotations

from edge.api.app import create_pick_app

__all__ = ["create_pick_app"]
