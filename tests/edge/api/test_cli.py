"""The commands a lead runs: ``guanjia edge pick-api`` (config errors) and ``hash-pin``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from edge.cli import app
from edge.pins import verify_pin


def test_hash_pin_prints_a_hash_that_verifies() -> None:
    r = CliRunner().invoke(app, ["hash-pin"], input="482916\n482916\n")
    assert r.exit_code == 0, r.output
    assert verify_pin("482916", r.output.strip().splitlines()[-1])
    r = CliRunner().invoke(app, ["hash-pin", "--pin", "12"])
    assert r.exit_code == 2 and "4 to 12 digits" in r.output


def test_pick_api_refuses_bad_config_and_operators(tmp_path: Path) -> None:
    ops = tmp_path / "operators.toml"
    ops.write_text('[[operator]]\nid = "a"\npin_hash = "nope-nope-nope"\n')
    cfg = tmp_path / "node.toml"
    r = CliRunner().invoke(app, ["pick-api", "--config", str(cfg), "--operators", str(ops)])
    assert r.exit_code == 2 and "no such config file" in r.output
    cfg.write_text('[node]\nid = "wh1-pick-1"\n')
    r = CliRunner().invoke(app, ["pick-api", "--config", str(cfg), "--operators", str(ops)])
    assert r.exit_code == 2 and "neither argon2id nor scrypt" in r.output
