"""``python -m cloud.bench.ack_publish [--host H] [--port P] [--count N]``: the hub's CPU per
acknowledgement published at QoS 1, through ``aiomqtt.Client.publish`` (a task per message,
as ingest sent acks before 2026-12-07) and straight through the paho client aiomqtt wraps
(cloud/sync/worker.py ``_send``), the broker's PUBACK included. Needs a broker (a local
Mosquitto: 127.0.0.1:1883). Each way runs twice, alternating, so the machine's load weighs
on both alike; aiomqtt's "pending publish calls" warning is silenced so that it is not
counted (the hub logged it for every ack).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

import aiomqtt


async def _one(host: str, port: int, count: int, direct: bool) -> float:
    """CPU µs per publish, from the first publish until the last one is confirmed."""
    async with aiomqtt.Client(host, port, max_inflight_messages=1000) as client:
        tasks: set[asyncio.Task[None]] = set()
        last = None
        start = time.process_time()
        for i in range(count):
            topic = f"guanjia-bench/node-{i % 2000}/ack"
            if direct:
                last = client._client.publish(topic, b"x" * 60, qos=1)
            else:
                task = asyncio.create_task(client.publish(topic, b"x" * 60, qos=1))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if i % 100 == 0:
                await asyncio.sleep(0)  # as ingest yields between groups
        while tasks or (last is not None and not last.is_published()):  # noqa: ASYNC110 (paho sets no event)
            await asyncio.sleep(0.005)
        return 1e6 * (time.process_time() - start) / count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--count", type=int, default=20000)
    args = ap.parse_args()
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    for direct in (False, True, False, True):
        us = asyncio.run(_one(args.host, args.port, args.count, direct))
        way = "paho client (now)" if direct else "aiomqtt.Client.publish (before)"
        print(f"{way:34} {us:7.1f} µs CPU per QoS 1 publish, PUBACK included")


if __name__ == "__main__":
    main()
