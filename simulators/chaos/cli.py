"""``guanjia chaos …``: one command per scenario, printing its figures, non-zero on a broken invariant."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from simulators.chaos.invariants import Figures

app = typer.Typer(
    help="Chaos scenarios on real processes (docs/chaos.md): each prints its figures and "
    "exits 1 when an invariant broke.",
    no_args_is_help=True,
)

DirOpt = Annotated[
    Path | None, typer.Option("--dir", help="Where logs and databases go (default: a temp dir).")
]
BudgetOpt = Annotated[
    float | None,
    typer.Option(
        "--max-minutes", help="Stop the faults after this long (the figures say how many ran)."
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="The hub's database (default: SQLite in --dir)."),
]


def _run(name: str, workdir: Path | None, body: Callable[[Path], Figures]) -> Figures:
    where = workdir or Path(tempfile.mkdtemp(prefix=f"guanjia-chaos-{name}-"))
    typer.echo(f"chaos {name}: working in {where}")
    try:
        fig = body(where)
    except Exception as err:  # a scenario that could not finish has broken the invariant
        fig = Figures(name)
        fig.fail(f"{type(err).__name__}: {err}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    for line in fig.lines():
        typer.echo(line)
    typer.echo(f"load average      {load}")
    return fig


def _exit(*figs: Figures) -> None:
    if not all(f.ok for f in figs):
        raise typer.Exit(1)


@app.command("kill-edge")
def kill_edge(
    kills: Annotated[int, typer.Option(help="kill -9s of the edge daemon.")] = 50,
    workdir: DirOpt = None,
    database_url: DbOpt = None,
    max_minutes: BudgetOpt = None,
) -> None:
    """kill -9 of the edge daemon mid-burst, N times; then converge."""
    from simulators.chaos import scenarios

    budget = None if max_minutes is None else max_minutes * 60
    _exit(
        _run(
            "kill-edge",
            workdir,
            lambda d: scenarios.kill_edge(d, kills, database_url, budget_s=budget),
        )
    )


@app.command("kill-hub")
def kill_hub(
    kills: Annotated[int, typer.Option(help="kill -9s of the hub.")] = 5,
    workdir: DirOpt = None,
    database_url: DbOpt = None,
    max_minutes: BudgetOpt = None,
) -> None:
    """kill -9 of the hub (API and ingest) mid-batch, N times; then converge."""
    from simulators.chaos import scenarios

    budget = None if max_minutes is None else max_minutes * 60
    _exit(
        _run(
            "kill-hub",
            workdir,
            lambda d: scenarios.kill_hub(d, kills, database_url, budget_s=budget),
        )
    )


@app.command("broker-restarts")
def broker_restarts(
    count: Annotated[int, typer.Option(help="Broker kills and restarts.")] = 5,
    workdir: DirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """The broker killed and restarted mid-sync, N times; then converge."""
    from simulators.chaos import scenarios

    _exit(
        _run(
            "broker-restarts", workdir, lambda d: scenarios.broker_restarts(d, count, database_url)
        )
    )


@app.command()
def partition(
    seconds: Annotated[float, typer.Option(help="How long the link stays cut.")] = 10.0,
    events: Annotated[int, typer.Option(help="Scans queued during the cut.")] = 500,
    alarm_bound: Annotated[
        float | None, typer.Option(help="The watchdog's link_alarm_s (default: S/3, 2–60 s).")
    ] = None,
    workdir: DirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Cut the node's link to the broker (a relay closed) for S seconds with N scans queued."""
    from simulators.chaos import scenarios

    _exit(
        _run(
            "partition",
            workdir,
            lambda d: scenarios.partition(d, seconds, events, database_url, alarm_bound),
        )
    )


@app.command()
def clock(
    jump: Annotated[str, typer.Option(help="-288s, +288s, 1970 or +1y.")] = "+1y",
    workdir: DirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """The node's wall clock jumps, then is corrected; nothing lost, nothing left flagged."""
    from simulators.chaos import scenarios

    if jump not in scenarios.JUMPS:
        typer.echo(f"--jump must be one of {', '.join(scenarios.JUMPS)}, not {jump!r}", err=True)
        raise typer.Exit(2)
    _exit(_run(f"clock {jump}", workdir, lambda d: scenarios.clock(d, jump, database_url)))


@app.command()
def disk(
    mode: Annotated[str, typer.Option(help="full or readonly.")] = "full",
    workdir: DirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """The node's data directory on a small tmpfs of its own that fills up or turns read-only."""
    from simulators.chaos import storage

    if mode not in ("full", "readonly"):
        typer.echo(f"--mode must be full or readonly, not {mode!r}", err=True)
        raise typer.Exit(2)
    if not storage.can_mount():
        typer.echo("guanjia chaos disk mounts a tmpfs of its own: run it as root", err=True)
        raise typer.Exit(2)
    _exit(_run(f"disk {mode}", workdir, lambda d: storage.disk(d, mode, database_url)))


@app.command("io-errors")
def io_errors(
    at: Annotated[
        int, typer.Option(help="The SQLite operation (from the connect) that fails.")
    ] = 40,
    mode: Annotated[str, typer.Option(help="once or forever.")] = "once",
    runs: Annotated[int, typer.Option(help="Runs, k = at, at+step, …")] = 1,
    step: Annotated[int, typer.Option(help="k's step between runs.")] = 1,
    workdir: DirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """SQLite I/O errors injected into the edge daemon's store at operation k; integrity after each."""
    from simulators.chaos import storage

    if mode not in ("once", "forever"):
        typer.echo(f"--mode must be once or forever, not {mode!r}", err=True)
        raise typer.Exit(2)
    _exit(
        _run(
            f"io-errors {mode}",
            workdir,
            lambda d: storage.io_errors(d, at, mode, runs, step, database_url),
        )
    )


def _clock(workdir: Path, jump: str, url: str | None) -> Figures:
    from simulators.chaos import scenarios

    return scenarios.clock(workdir, jump, url)


@app.command("all")
def run_all(
    long: Annotated[bool, typer.Option("--long", help="The long forms (hours).")] = False,
    workdir: DirOpt = None,
    database_url: DbOpt = None,
) -> None:
    """Every scenario, short forms (a minute or two) or with --long the long forms."""
    from simulators.chaos import scenarios, storage

    base = workdir or Path(tempfile.mkdtemp(prefix="guanjia-chaos-all-"))
    n = {"kills": 1000, "hub": 100, "broker": 100, "part_s": 1800.0, "part_n": 20000}
    if not long:
        n = {"kills": 10, "hub": 3, "broker": 3, "part_s": 6.0, "part_n": 200}
    jobs: list[tuple[str, Callable[[Path], Figures]]] = [
        ("kill-edge", lambda d: scenarios.kill_edge(d, int(n["kills"]), database_url)),
        ("kill-hub", lambda d: scenarios.kill_hub(d, int(n["hub"]), database_url)),
        ("broker-restarts", lambda d: scenarios.broker_restarts(d, int(n["broker"]), database_url)),
        (
            "partition",
            lambda d: scenarios.partition(d, n["part_s"], int(n["part_n"]), database_url),
        ),
    ]
    for jump in scenarios.JUMPS:
        jobs.append((f"clock {jump}", functools.partial(_clock, jump=jump, url=database_url)))
    if storage.can_mount():
        for mode in ("full", "readonly"):
            jobs.append(
                (
                    f"disk {mode}",
                    functools.partial(storage.disk, mode=mode, database_url=database_url),
                )
            )
    runs = 60 if long else 2
    for mode in ("once", "forever"):
        jobs.append(
            (
                f"io-errors {mode}",
                functools.partial(
                    storage.io_errors, at=1, mode=mode, runs=runs, step=7, database_url=database_url
                ),
            )
        )
    figs = []
    for i, (name, body) in enumerate(jobs):
        figs.append(_run(name, base / f"{i:02d}-{name.replace(' ', '-')}", body))
        typer.echo("")
    typer.echo("scenario            runs  events  lost  doubled  converge  wedged  integrity")
    for f in figs:
        typer.echo(
            f"{f.scenario:<18} {f.runs:>5} {f.events:>7} {f.lost:>5} {f.doubled:>8} "
            f"{f.converge_s:>7.1f}s {f.wedged:>7}  {f.integrity}{'' if f.ok else '  BROKEN'}"
        )
    _exit(*figs)
