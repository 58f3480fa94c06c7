"""A private MQTT broker for the demo and the tests.

Prefers a real ``mosquitto`` process on a free port with a config written
here (so nothing depends on a shared broker's state); falls back to amqtt, an
embedded Python broker, when no mosquitto binary exists, and says so loudly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from simulators.net import free_port, wait_for_port

log = logging.getLogger("guanjia.broker")

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_mosquitto() -> str | None:
    for name in MOSQUITTO_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class PrivateBroker:
    """One broker process listening on 127.0.0.1; start/stop/kill/restart for fault tests."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        extra_config: str = "",
        force_embedded: bool = False,
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra_config = extra_config
        self.binary = None if force_embedded else find_mosquitto()
        self.kind = "mosquitto" if self.binary else "amqtt"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> PrivateBroker:
        self.workdir.mkdir(parents=True, exist_ok=True)
        logf = open(self.workdir / f"{self.kind}.log", "ab")  # noqa: SIM115 - lives as long as the process
        if self.binary:
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(
                f"listener {self.port} {self.host}\n"
                "allow_anonymous true\n"
                "persistence false\n"
                "max_queued_messages 100000\n"
                f"{self.extra_config}\n",
                encoding="utf-8",
            )
            cmd = [self.binary, "-c", str(conf)]
        else:
            log.warning(
                "no mosquitto binary found: starting the embedded amqtt broker instead "
                "(install the 'mosquitto' package for the real one)"
            )
            cmd = [sys.executable, "-m", "simulators.broker", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True
        )
        logf.close()
        try:
            wait_for_port(self.host, self.port, timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"{self.kind} did not start; see {self.workdir / (self.kind + '.log')}"
            ) from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: no clean disconnects, no will flush."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> PrivateBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _run_amqtt(port: int) -> None:
    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "sys_interval": 0,
        "auth": {"allow-anonymous": True},
        "topic-check": {"enabled": False},
    }
    broker = Broker(config)
    await broker.start()
    await asyncio.Event().wait()


if __name__ == "__main__":  # the embedded fallback, run as its own process
    asyncio.run(_run_amqtt(int(sys.argv[1])))
