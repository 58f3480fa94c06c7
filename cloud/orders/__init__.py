"""Orders: arrival and auto-audit, the audit rules, the manual workflow, release to the
edge (pick leases, waybills), split and merge, reversals, and the order list views.

Nothing is imported here: each module is imported by its own name, so that this package
adds no import edges of its own (cloud/orders/core.py is the bottom of the package)."""
