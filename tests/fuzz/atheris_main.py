"""``make fuzz``: each input kind of tests/fuzz/kinds.py under atheris (libFuzzer, coverage-
guided over our protocol code), 100,000 cases per kind by default, one process per kind.

    python -m tests.fuzz.atheris_main [--runs N] [--kind NAME ...]

Prints the table (cases, accepted, refused, unclear, crashes, seconds) and exits 1 if any
kind crashed or refused without saying why. A crash is counted, its input kept, and the run
goes on: the figure is the count, not the first failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz.harness import Refused, Tally, unclear

_VALUES: list[object] = [None, True, False, 0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1, 1.5, 1e308,
                         "", "\x00", "9" * 300, "1", "true", "2026-13-45", "🙂", [], {}, [1], {"a": 1}]  # fmt: skip


def json_edit(obj: object, rng: random.Random) -> bytes:
    """One value-wise edit of a JSON document: replace, drop or add at a random place."""
    places: list[tuple[object, object]] = []  # (container, key or index)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                places.append((node, key))
                walk(value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                places.append((node, i))
                walk(value)

    walk(obj)
    if places:
        container, key = rng.choice(places)
        op = rng.randrange(3)
        if op == 0:
            container[key] = rng.choice(_VALUES)  # type: ignore[index]
        elif op == 1:
            del container[key]  # type: ignore[attr-defined]
        elif isinstance(container, dict):
            container[rng.choice(["v", "seq", "id", "x", "", "payload"])] = rng.choice(_VALUES)
        else:
            container.append(rng.choice(_VALUES))  # type: ignore[attr-defined]
    return json.dumps(obj, ensure_ascii=False).encode()


def _instrument(_loaded: object, prefixes: tuple[str, ...]) -> None:
    """Instrument the functions and methods of the loaded modules named with ``prefixes``."""
    import atheris

    for name, module in list(sys.modules.items()):
        if not name.startswith(prefixes) or module is None:
            continue
        for obj in list(vars(module).values()):
            members = vars(obj).values() if isinstance(obj, type) else [obj]
            for f in members:
                f = getattr(f, "__func__", f)
                if getattr(f, "__module__", None) == name and hasattr(f, "__code__"):
                    with contextlib.suppress(Exception):
                        atheris.instrument_func(f)


def _child(kind: str, runs: int, out: Path) -> None:
    import atheris

    from tests.fuzz.kinds import KINDS

    k = KINDS[kind]
    if k.instrument:
        for sample in k.corpus:  # loads what the target imports when it first runs
            with contextlib.suppress(Exception):
                k.target(sample)
        _instrument(k.corpus, (*k.instrument, k.target.__module__))
    elif callable(k.samples):
        # A kind that needs a hub or a node: making its samples loads them. Instrumenting
        # every loaded function (FastAPI, SQLAlchemy, pydantic too), or even all of ours, did
        # not finish in ten minutes a kind on the loaded machine of 2026-12-06: only the
        # kind's own module is instrumented, so libFuzzer's mutations of the valid samples
        # (and the JSON mutator's) are barely guided by coverage for these kinds.
        _instrument(k.corpus, (k.target.__module__,))
    else:
        # instrument_imports misses modules of an editable install (they load through
        # setuptools' own finder), so every function already loaded is instrumented instead.
        atheris.instrument_all()
    tally = Tally(kind)
    started = time.perf_counter()

    def save(last: bool = False) -> None:
        tally.seconds = time.perf_counter() - started
        if last and k.finish is not None:
            broken = k.finish()
            if broken:  # an invariant the run broke: counted as a crash
                tally.crashes += 1
                tally.note("invariant", b"(after the run)", broken)
        out.write_text(json.dumps(tally.__dict__))

    def one(data: bytes) -> None:
        tally.cases += 1
        try:
            k.target(data)
        except (*k.expected, Refused) as err:
            if unclear(str(err)):
                tally.unclear += 1
                tally.note("unclear", data, f"{type(err).__name__}: {err}")
            else:
                tally.refused += 1
        except Exception as err:
            tally.crashes += 1
            tally.note("crash", data, f"{type(err).__name__}: {err}")
        else:
            tally.accepted += 1
        if tally.cases % 1000 == 0 or tally.cases >= runs:
            save(
                last=tally.cases >= runs
            )  # libFuzzer ends the process itself once the runs are done

    def json_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        # Byte edits break JSON syntax nearly every time, so the decoders behind the parser
        # would see only the seeds: half the time, change a value, a key or a list instead.
        rng = random.Random(seed)
        if rng.random() < 0.5:
            try:
                out = json_edit(json.loads(data), rng)
                if len(out) <= max_size:
                    return out
            except ValueError:
                pass
        return bytes(atheris.Mutate(data, max_size))

    seeds = Path(tempfile.mkdtemp(prefix="fuzz-seeds-"))
    for i, sample in enumerate(k.corpus):
        (seeds / f"seed-{i}").write_bytes(sample)
    argv = [sys.argv[0], f"-runs={runs}", "-seed=1", "-max_len=4096", "-print_final_stats=0"]
    atheris.Setup([*argv, str(seeds)], one, custom_mutator=json_mutator if k.json else None)
    atheris.Fuzz()


def main() -> int:
    from tests.fuzz.kinds import KINDS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--kind", action="append", choices=sorted(KINDS))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        _child(a.child, a.runs, a.out)
        return 0
    print(
        f"{'kind':40} {'cases':>9} {'accepted':>9} {'refused':>9} {'unclear':>8} {'crashes':>8} {'s':>7}"
    )
    bad = 0
    total = 0
    for kind in a.kind or list(KINDS):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "tally.json"
            cmd = [sys.executable, "-m", "tests.fuzz.atheris_main", "--child", kind]
            cmd += ["--runs", str(a.runs), "--out", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
            if not out.exists():
                print(f"{kind:40} the fuzzer died (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
                bad += 1
                continue
            t = Tally(**json.loads(out.read_text()))
        total += t.cases
        print(
            f"{kind:40} {t.cases:>9,} {t.accepted:>9,} {t.refused:>9,} {t.unclear:>8,}"
            f" {t.crashes:>8,} {t.seconds:>7.1f}",
            flush=True,
        )
        for example in t.examples:
            print(f"    {example}")
        bad += t.crashes + t.unclear + (t.cases < a.runs)
    print(f"{'all kinds':40} {total:>9,}  {'FAILED' if bad else 'ok'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
