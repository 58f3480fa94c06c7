"""The root ``guanjia`` command reaches every part: its own commands, and the parts'
commands and benches added by entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulators import cli


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    cli._load_parts()  # once: it adds the entry points' commands to the module's app
    return CliRunner()


def _commands(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli.app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["demo", "sim", "bench", "edge", "cloud", "node", "broker", "channels"]),
        (
            ("sim",),
            ["scanner", "printer", "llrp", "scale", "hid-scanner", "marketplace", "einvoice"],
        ),
        (("channels",), ["add-shop", "download", "list"]),
        (("bench",), ["codec", "sync", "fanin", "cloud", "rfid", "scale", "station", "pda"]),
        (("demo",), ["--once", "--dir"]),
    ],
)
def test_every_command_is_reached(
    runner: CliRunner, args: tuple[str, ...], expected: list[str]
) -> None:
    out = _commands(runner, *args)
    for name in expected:
        assert f" {name} " in out, f"guanjia {' '.join(args)} lacks {name}:\n{out}"


def test_a_bench_directory_that_is_not_there_is_a_clear_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    missing = f"{tmp_path}/not-made"
    result = runner.invoke(
        cli.app, ["bench", "receive", "--directory", missing], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 2, result.output
    assert f"{missing} is not a directory" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
