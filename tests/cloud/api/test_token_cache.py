"""Verified tokens are remembered (cloud/auth.py decode_token); expiry is still checked on
every use, and a wrong secret or a tampered token is still refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from cloud import auth
from cloud.auth import InvalidToken, decode_token, issue_token
from cloud.db.models import User

SECRET = "s" * 32


def _token(ttl: timedelta) -> str:
    user = User(
        id=7, username="lead", account_id=3, role="auditor", password_hash="x", token_version=0
    )
    token, _ = issue_token(user, [], SECRET, datetime.now(UTC), ttl)
    return token


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token = _token(timedelta(seconds=60))
    who = decode_token(token, SECRET)
    assert (who.user_id, who.account_id, who.role) == (7, 3, "auditor")
    assert decode_token(token, SECRET) == who  # remembered
    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(InvalidToken, match="expired"):
        decode_token(token, SECRET)


def test_remembering_does_not_widen_what_is_accepted() -> None:
    token = _token(timedelta(minutes=5))
    decode_token(token, SECRET)  # now remembered under SECRET
    with pytest.raises(InvalidToken):
        decode_token(token, "another secret, another hub" * 2)
    head, payload, sig = token.split(".")
    with pytest.raises(InvalidToken):
        decode_token(f"{head}.{payload}.{sig[::-1]}", SECRET)
    with pytest.raises(InvalidToken):
        decode_token(_token(timedelta(seconds=-1)), SECRET)  # expired when issued
