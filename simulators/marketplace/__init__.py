"""A marketplace simulator: a Taobao-TOP-shaped gateway (``POST /router/rest``) over a store of
trades that buyers place, pay, modify and cancel on a virtual clock, with a seeded fault
schedule and a ground-truth log of every change (``/_sim/...``). See docs/channels.md.

This package has its own signing and envelope code, written from the TOP documentation, and
shares none with the hub's client (cloud/channels/taobao): a bug in one must not hide in the
other. Both are checked against the same known-answer vectors in the tests.
"""
