"""Device drivers: thin adapters, one owner per device (see base.py)."""
