"""Stations: pure state machines, ``handle(event) -> list[command]``, no I/O."""
