"""The PDA web view (docs/pda.md): the handheld's pages, served by the pick API's process.

:func:`mount_pda` adds the pages to the pick API app (edge/api/app.py). The pages talk to
the node through the same JSON endpoints as any client (docs/pick-api.md); the few extra
reads they need (barcodes of a wave's SKUs, lookups) are here, behind the same bearer
tokens. Nothing here imports edge.api: the app hands its login gate and pick service
over ``app.state``.
"""

from __future__ import annotations

from edge.pda.app import mount_pda

__all__ = ["mount_pda"]
