"""The example deploy configs stay valid, and the config refuses what a station cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.config import ConfigError, load_config

DEPLOY = Path(__file__).resolve().parents[3] / "docs" / "deploy"
EXAMPLES = sorted(DEPLOY.glob("*.toml"))


def test_there_are_examples_for_both_kinds() -> None:
    kinds = {load_config(p).station.kind for p in EXAMPLES}
    assert {"pack", "stocktake"} <= kinds


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_passes_check_config(path: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_unit_file_restarts_always_and_checks_its_config() -> None:
    unit = (DEPLOY / "guanjia-edge@.service").read_text(encoding="utf-8")
    assert "\nRestart=always\n" in unit
    assert "edge check-config --config /etc/guanjia/%i.toml" in unit
    assert "edge run --config /etc/guanjia/%i.toml" in unit


PACK = (DEPLOY / "pack-station.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("tolerance_pct = 5.0", "tolerance_pct = 5.0\ntolerence_g = 3"),
            "pack.tolerence_g: unknown key",
        ),
        (
            ('[scale]\nport = "/dev/ttyUSB0"', '[scale]\nport = "/dev/ttyUSB0"\nspeed = 1'),
            "scale.speed: unknown key",
        ),
        (('courier = "ZTO"', 'courier = "SF"'), "one printer per courier"),
        (('kind = "pack"', 'kind = "pick"'), "a pick station needs a .pick. section"),
        (('kind = "pack"', 'kind = "inbound"'), "station.kind 'inbound' has no runtime yet"),
        (
            (
                'lead-wang = "03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4"',
                'lead-wang = "1234"',
            ),
            "pack.leads.lead-wang",
        ),
    ],
)
def test_bad_pack_configs_name_the_problem(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in PACK
    path = tmp_path / "pack.toml"
    path.write_text(PACK.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_pack_without_scale_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pack.toml"
    path.write_text('[node]\nid = "wh1-pack-1"\n[station]\nkind = "pack"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\(config\): a pack station needs a \[scale\] section"):
        load_config(path)
