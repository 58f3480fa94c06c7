"""The short form of ``make fuzz`` (issue 19): every input kind in tests/fuzz/kinds.py gets
``--fuzz-cases`` generated cases (200 by default) — random bytes, valid samples mutated byte-
and value-wise — and must neither crash nor refuse without saying why. The counts are printed
at the end of the session; ``make fuzz`` runs the long form through atheris."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.errors import RemoteProtocolError
from tests.fuzz.harness import TALLIES, TALLY_PROPERTY, Refused, bytes_cases, run
from tests.fuzz.kinds import KINDS, PROTOCOL

#: ``--fuzz-cases``' default (tests/conftest.py): the short form of ``make test``.
DEFAULT_CASES = 200


@pytest.mark.parametrize("kind", list(KINDS))
def test_fuzz(kind: str, fuzz_cases: int, record_property: Any) -> None:
    k = KINDS[kind]
    # The short form (the option's default) keeps the slow HTTP kinds to a few dozen cases.
    count = min(fuzz_cases, k.short) if k.short and fuzz_cases == DEFAULT_CASES else fuzz_cases
    tally = run(kind, k.target, bytes_cases(k.corpus, json=k.json), count, k.expected)
    # The table is printed by the controlling process (tests/conftest.py), which under
    # pytest-xdist sees only the reports: the tally travels in one.
    record_property(TALLY_PROPERTY, tally.row())
    assert tally.cases == count, tally
    assert tally.crashes == 0 and tally.unclear == 0, tally.problems()
    if k.finish is not None:
        assert k.finish() is None


#: The kinds whose targets raise Refused themselves (HTTP APIs, outside services' answers).
ANSWERS = [name for name, k in KINDS.items() if not k.expected]


@pytest.mark.parametrize("kind", ANSWERS)
def test_the_valid_samples_are_taken(kind: str) -> None:
    # Mutations start from these: a sample the target refuses would make every case start
    # from a refusal, and the fuzzing would never reach past the first check.
    k = KINDS[kind]
    taken = 0
    for sample in k.corpus[:: max(1, len(k.corpus) // 30)]:  # at most ~30: an HTTP case is slow
        try:
            k.target(sample)
            taken += 1
        except Refused:
            pass
    assert taken >= 1, f"none of {len(k.corpus)} samples taken"


def test_the_harness_counts_a_crash_and_an_unclear_error() -> None:
    # The tally must be able to fail: a target that crashes on some inputs and gives a
    # useless message on others is caught, with examples kept.
    def target(data: bytes) -> None:
        if data[:1] == b"\x00":
            raise KeyError("boom")
        if data[:1] == b"\x01":
            raise RemoteProtocolError("")
        if data:
            raise RemoteProtocolError("first byte is not what the protocol allows")

    tally = run("self-test", target, bytes_cases([b"\x00a", b"\x01b", b"\x02c"]), 300, PROTOCOL)
    TALLIES.remove(tally)  # not a kind of input: left out of the printed table
    assert tally.crashes > 0 and tally.unclear > 0 and tally.refused > 0
    assert any("KeyError" in e for e in tally.examples)
