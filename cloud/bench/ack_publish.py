"""``python -m cloud.bench.ack_publish [--host H] [--port P] [--count N] [--group G]``: the
hub's CPU per acknowledgement published at QoS 1, through ``aiomqtt.Client.publish`` (a task
per message, as ingest sent acks before 2026-12-07) and straight through the paho client
aiomqtt wraps (cloud/sync/worker.py ``_send``), with paho's in-flight limit of 1,000 (before
issue 20's profile) and with none (now), the broker's PUBACK included. ``--group``: acks
handed over between two yields to the loop, as one ingest group's (up to 1,000). Needs a
broker (a local Mosquitto: 127.0.0.1:1883). Each way runs twice, alternating, so the
machine's load weighs on all alike; aiomqtt's "pending publish calls" warning is silenced
so that it is not counted (the hub logged it for every ack).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

import aiomqtt


async def _one(host: str, port: int, count: int, direct: bool, inflight: int, group: int) -> float:
    """CPU µs per publish, from the first publish until the last one is confirmed."""
    async with aiomqtt.Client(host, port, max_inflight_messages=inflight) as client:
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
            if i % group == 0:
                await asyncio.sleep(0)  # as ingest yields between groups
        while tasks or (last is not None and not last.is_published()):  # noqa: ASYNC110 (paho sets no event)
            await asyncio.sleep(0.005)
        return 1e6 * (time.process_time() - start) / count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--group", type=int, default=100)
    args = ap.parse_args()
    logging.getLogger("mqtt").setLevel(logging.ERROR)
    ways = {
        "aiomqtt.Client.publish, 1,000": (False, 1000),
        "paho client, 1,000 in flight": (True, 1000),
        "paho client, no limit (now)": (True, 0),
    }
    if args.group > 100:
        # A task per publish and 1,000 of them at once: aiomqtt's own publishes time out.
        del ways["aiomqtt.Client.publish, 1,000"]
    for _ in range(2):
        for way, (direct, inflight) in ways.items():
            us = asyncio.run(_one(args.host, args.port, args.count, direct, inflight, args.group))
            print(f"{way:32} {us:7.1f} µs CPU per QoS 1 publish, PUBACK included")


if __name__ == "__main__":
    main()
