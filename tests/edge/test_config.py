from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.config import ConfigError, load_config

GOOD = """
[node]
id = "wh1-pack-1"
data_dir = "data"

[mqtt]
host = "10.0.0.5"
port = 1883

[scanner]
port = 7001
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "edge.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_good_config_and_relative_data_dir(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.node.id == "wh1-pack-1"
    assert cfg.node.data_dir == (tmp_path / "data").resolve()
    assert cfg.mqtt.port == 1883
    assert cfg.sync.window == 8  # default


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (GOOD.replace("port = 1883", "prot = 1883"), "mqtt.prot: unknown key"),
        (GOOD + "\n[printer]\nhost = 'x'\n", "printer: unknown key"),
        (
            GOOD.replace("port = 1883", 'port = "eighteen"'),
            "mqtt.port: Input should be a valid integer",
        ),
        (
            GOOD.replace("port = 1883", "port = 70000"),
            "mqtt.port: Input should be less than or equal to 65535",
        ),
        (GOOD.replace('id = "wh1-pack-1"', 'id = "wh1/#"'), "node.id: String should match pattern"),
        ("[mqtt]\n", "node: Field required"),
        ("[node\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(ConfigError, match=r"edge\.toml") as info:
        load_config(write(tmp_path, text))
    assert names in str(info.value)


def test_daemon_refuses_to_start_and_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("port = 7001", "port = 7001\nbaud = 9600"))
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "scanner.baud: unknown key" in result.output
    assert not (tmp_path / "data").exists()  # nothing was created


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
