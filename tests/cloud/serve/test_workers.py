"""``serve --workers N``'s supervisor (cloud/serve/workers.py): a port it cannot have is a clear
error at once, not workers restarting for ever."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from simulators.net import free_port


def test_a_port_held_by_another_program_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as other:  # bound and listening without SO_REUSEPORT
        other.bind(("127.0.0.1", port))
        other.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUANJIA_")}
        env["GUANJIA_MQTT_HOST"] = ""
        run = subprocess.run(
            [
                *(sys.executable, "-m", "cloud", "serve", "--workers", "2"),
                *("--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'hub.db'}"),
            ],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert run.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr.decode()
