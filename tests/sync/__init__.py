"""Sync tests: faults, isolation, enrollment."""
