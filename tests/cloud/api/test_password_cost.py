"""The argon2 cost of password hashes (cloud/auth.py): production default and the override."""

from __future__ import annotations

import pytest
from pwdlib import PasswordHash

from cloud.auth import _argon2_cost


def test_default_is_rfc9106_low_memory_and_override_is_parsed() -> None:
    # Unset: RFC 9106 §4's second recommended option, as every deployment gets it.
    default = PasswordHash((_argon2_cost(None),)).hash("pw")
    assert default.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    cheap = PasswordHash((_argon2_cost("m=64, t=1, p=1"),))
    h = cheap.hash("pw")
    assert h.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    # A hash carries its parameters: the default hasher verifies a cheap hash and back.
    assert PasswordHash((_argon2_cost(None),)).verify("pw", h)
    assert cheap.verify("pw", default)
    assert not cheap.verify("wrong", default)


@pytest.mark.parametrize(
    "spec", ["m=64,t=1", "m=x,t=1,p=1", "m=4,t=1,p=1", "m=64,t=0,p=1", "64,1,1"]
)
def test_bad_override_is_refused_with_the_expected_form(spec: str) -> None:
    with pytest.raises(ValueError, match="GUANJIA_ARGON2"):
        _argon2_cost(spec)
