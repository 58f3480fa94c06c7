"""docs/protocol.md is checked against the code: every example parses, every message is there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocol import codec, messages, topics

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = re.findall(r"<!-- model: (\w+) -->\s*```json\n(.*?)```", TEXT, re.S)
CHANGES = re.findall(r"<!-- change: (\w+) -->\s*```json\n(.*?)```", TEXT, re.S)


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize(
    ("model", "body"), EXAMPLES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(EXAMPLES)]
)
def test_example_parses_against_the_model(model: str, body: str) -> None:
    data = body.encode()
    if model == "EventBatch":
        batch = codec.decode_batch(data, "wh1-pack-1")
        assert not any(isinstance(e, codec.ParkedEvent) for e in batch.events)
        return
    cls = getattr(messages, model)
    if model in messages.EVENT_TYPES.values().__class__.__name__ or model in {
        c.__name__ for c in messages.EVENT_TYPES.values()
    }:
        assert isinstance(messages.EVENT_ADAPTER.validate_json(data), cls)
        return
    codec.decode(cls, data)


def test_every_message_type_and_topic_is_documented() -> None:
    documented = {m for m, _ in EXAMPLES}
    for cls in (
        messages.Ack,
        messages.DownBatch,
        messages.Pull,
        messages.NodeState,
        messages.HubState,
    ):
        assert cls.__name__ in documented
    for event_type, cls in messages.EVENT_TYPES.items():
        assert f"`{event_type}`" in TEXT
        assert cls.__name__ in documented
    for change_type, change_cls in messages.CHANGE_TYPES.items():
        assert f"`{change_type}`" in TEXT
        assert change_cls.__name__ in {m for m, _ in CHANGES}
    for channel in topics.Channel:
        assert f"guanjia/v1/node/{{node}}/{channel.value}" in TEXT
    assert topics.HUB_STATE in TEXT
