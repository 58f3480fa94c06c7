"""Bulk ids (cloud/db/ids.py) are the text ``uuid.UUID(bytes=…, version=4)`` gives for the same
random bytes: version 4, RFC variant, lower-case hex, 8-4-4-4-12."""

from __future__ import annotations

import os
import uuid

from cloud.db import ids


def test_ids_are_the_texts_uuid_gives_for_the_same_bytes() -> None:
    raw = b"".join([bytes(16), b"\xff" * 16, os.urandom(16 * 4000)])
    want = [str(uuid.UUID(bytes=raw[i : i + 16], version=4)) for i in range(0, len(raw), 16)]
    assert ids._texts(raw) == want


def test_uuid4_draws_distinct_version_4_ids() -> None:
    made = [ids.uuid4() for _ in range(3 * 256 + 5)]  # across pool refills
    assert len(set(made)) == len(made)
    assert all(uuid.UUID(m).version == 4 and str(uuid.UUID(m)) == m for m in made)
