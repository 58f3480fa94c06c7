"""A stand-in for the broker connection of the hub's ingest worker, for tests of one group
that need no broker: it records what the worker would publish, in order.

The worker hands acks and downlink to the paho client that aiomqtt wraps
(``client._client.publish``, cloud/sync/worker.py ``_send``) and awaits only its own
session messages through ``aiomqtt.Client.publish``; both land in ``published``.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt


class _Published:
    """What paho's ``publish`` returns, for a message the broker confirmed at once."""

    rc = mqtt.MQTT_ERR_SUCCESS

    @staticmethod
    def is_published() -> bool:
        return True


class _Paho:
    def __init__(self, published: list[tuple[str, bytes]]) -> None:
        self.published = published

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> _Published:
        self.published.append((topic, payload))
        return _Published()


class RecordingClient:
    """Records what would be published, in the order it was handed over."""

    def __init__(self, published: list[tuple[str, bytes]] | None = None) -> None:
        self.published: list[tuple[str, bytes]] = [] if published is None else published
        self._client = _Paho(self.published)

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self.published.append((topic, payload))
