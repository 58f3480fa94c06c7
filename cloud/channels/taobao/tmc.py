"""Taobao TMC (消息服务) as a message source: ``taobao.tmc.messages.consume`` and
``taobao.tmc.messages.confirm`` (the TMC pages: delivery at least once; a message consumed and
not confirmed is delivered again; messages are kept 24 hours).

A message's ``content`` is a JSON *string*; we read only the ``tid`` it names, as a hint of
which trade to read whole (fullinfo.get), never its status or amounts.
"""

from __future__ import annotations

import json
from typing import Any

from cloud.channels.ids import digits
from cloud.channels.ports import PushedMessage, Refused
from cloud.channels.taobao.client import TopClient

GROUP = "default"


class TaobaoMessages:
    def __init__(self, client: TopClient, *, group: str = GROUP) -> None:
        self.client, self.group = client, group

    def poll(self, limit: int) -> list[PushedMessage]:
        body = self.client.call(
            "taobao.tmc.messages.consume",
            {"group_name": self.group, "quantity": str(max(1, min(limit, 200)))},
        )
        wrapper = body.get("messages") or {}
        rows = wrapper.get("tmc_message", []) if isinstance(wrapper, dict) else []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise Refused("tmc.messages.consume: messages.tmc_message is not a list of objects")
        return [_message(r) for r in rows if digits(r.get("id")) is not None]

    def confirm(self, message_ids: list[str]) -> None:
        if message_ids:
            self.client.call(
                "taobao.tmc.messages.confirm",
                {"group_name": self.group, "s_message_ids": ",".join(message_ids)},
            )


def _message(row: dict[str, Any]) -> PushedMessage:
    tid: str | None = None
    try:
        content = json.loads(str(row.get("content") or "{}"))
    except ValueError:
        content = None
    if isinstance(content, dict):
        tid = digits(content.get("tid"))
    return PushedMessage(str(row["id"]), str(row.get("topic", ""))[:80], tid)
