"""The chaos suite (issue 19): faults on real processes, invariants checked with plain SQL.

The edge daemon (``python -m edge run``), the hub (``python -m cloud serve``) and a private
Mosquitto run as separate processes, as they run in production; the scenarios kill them,
cut their link, move their clock, fill or freeze their disk and inject SQLite I/O errors,
then read the node's SQLite file and the hub's database with plain SQL to check that every
committed event is in the cloud exactly once with its content. This package imports
neither ``edge`` nor ``cloud`` (the import contracts in pyproject): it only starts them.
docs/chaos.md says what each scenario does and what it does not.
"""
