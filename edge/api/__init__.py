"""The edge's JSON HTTP API on the LAN (FastAPI): the pick station for PDAs (docs/pick-api.md).

The app is built by ``edge.api.app.create_pick_app``. This package imports nothing itself:
``guanjia edge`` registers the ``pick-api`` command from ``edge.api.cli``, and importing
FastAPI, the pick runtime and numpy here cost every ``edge`` command (the daemon included)
~1.9 s of start-up and ~38 MB of memory it never used (measured 2026-12-07, issue 20).
"""
