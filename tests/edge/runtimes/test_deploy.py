"""The example deploy configs stay valid, and the config refuses what a station cannot run."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.config import ConfigError, load_config
from edge.pins import verify_pin

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
_LEAD = re.search(r'^lead-wang = "([^"]+)"$', PACK, flags=re.MULTILINE)
assert _LEAD is not None
LEAD_WANG = _LEAD[0]


def test_the_example_lead_pin_is_a_salted_hash_of_1234() -> None:
    # Made by `guanjia edge hash-pin`, checked as the pick API checks an operator's PIN.
    assert _LEAD is not None and _LEAD[1].startswith("$argon2id$")
    assert verify_pin("1234", _LEAD[1]) and not verify_pin("1235", _LEAD[1])


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
        (('kind = "pack"', 'kind = "inbound"'), "a receiving station needs a .receive. section"),
        (
            (LEAD_WANG, 'lead-wang = "1234"'),
            "pack.leads.lead-wang",
        ),
        (
            # What [pack.leads] held before PINs were salted: refused, naming the key.
            (LEAD_WANG, f'lead-wang = "{hashlib.sha256(b"1234").hexdigest()}"'),
            r"pack.leads.lead-wang: this is an old unsalted SHA-256 PIN hash; "
            r"make a new one with `guanjia edge hash-pin`",
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
