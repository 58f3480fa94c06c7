"""The dashboard: the seller's and the lead's pages, server-rendered (Jinja2 + htmx).

Mounted under ``/web`` by cloud/app.py (:func:`cloud.web.mount.mount`). Pages call the same
domain functions as the JSON API (cloud/api/) with the same scopes; templates only show what
they are given. docs/dashboard.md describes the session, CSRF and how to add a page.
"""
