"""CLI start-up benchmark: `bridge --help` and every list and show command, timed as whole
processes.

Run it from the repository root::

    uv run python tests/bench/cli_startup.py                 # 9 runs of each
    uv run python tests/bench/cli_startup.py --runs 21
    uv run python tests/bench/cli_startup.py --no-bytecode-cache
    uv run python tests/bench/cli_startup.py --only shops,show  # some commands (and the anchor)

What it measures, in one run, each as a fresh ``python`` process started the way a shell starts
``bridge`` (the wall clock from spawn to exit, output to a pipe that is read to the end):

* **anchor**: ``python -c pass``, the interpreter's own start-up on this machine right now;
* **help**: ``python -m bridge.cli --help``;
* every list and show command (``COMMANDS`` below), ``python -m bridge.cli shops list`` for
  **shops**, ``fulfilments show 1`` for **show** and so on.

The commands run on a temporary SQLite database that was migrated beforehand (and given a shop,
a supplier, a mapping and an order with one line), with ``BRIDGE_DATABASE_URL`` and
``BRIDGE_SECRET_KEY`` set, so each pays for the settings, the schema check and its queries.

What a list or show command reads with: SQL text sent straight to the driver (``sqlite3`` here;
psycopg on PostgreSQL), ``bridge/cli/driver.py`` and ``bridge/cli/reads.py``; the schema check
is one read of ``alembic_version`` in the same read-only transaction. Neither SQLAlchemy
(about 150 ms of the 0.3 s a command may take, measured 2026-12-07) nor the models are imported:
a command pays for Python, typer (with the pydantic it imports), the settings and sqlite3
(11 ms). tests/cli/test_light_reads.py fails when one of them imports SQLAlchemy. A database
that is not at the newest schema, or does not open, goes the way every other command goes
(SQLAlchemy, migrated when ``auto_migrate`` is on) once, and then reads the same way: that
first run is not what this measures.

The commands alternate (anchor, help, shops, ..., anchor, ...) so slow drift of this shared
machine hits them alike. Each figure is the median of ``--runs``; each ratio is that median over
the anchor's median from the same run, which is the figure to compare between machines (and
between moments of a loaded one). Each command's CPU time (user + system, median) is printed
too: on a machine other work loads, it moves much less than the wall clock does.

Bytecode: Python normally caches compiled modules (``__pycache__``); an environment may forbid
it (``PYTHONDONTWRITEBYTECODE=1``; this project sets ``compile-bytecode`` so that ``uv sync``
compiles the dependencies at install time), and then every process compiles every module it
imports that has no cached bytecode yet, which costs more than running them. By default the
benchmark points ``PYTHONPYCACHEPREFIX`` at a private directory,
warms it with one untimed run of each command, and measures what an installed ``bridge`` costs;
nothing outside the temporary directory is written. ``--no-bytecode-cache`` measures the other
case as this machine has it: ``PYTHONDONTWRITEBYTECODE=1`` and only the ``__pycache__`` that
exists already (typically the standard library's, not the virtualenv's).

Targets (with the cache, issue 22): help at most 0.15 s, each list and show command at most
0.3 s. The script exits 1 when a command fails, or when a target is missed with the cache on.
The last line is ``anchor_seconds=... anchor_cpu=... help_seconds=... help_ratio=...
help_cpu=... shops_seconds=...``, one triple per command measured.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "cli-startup-benchmark-secret-key"
# Every list and show command of `bridge`, by the name its figures carry; each has a row to show.
COMMANDS: dict[str, list[str]] = {
    "shops": ["shops", "list"],
    "suppliers": ["suppliers", "list"],
    "mappings": ["mappings", "list"],
    "mapping": ["mappings", "show", "--shop", "4", "--variation", "v-1"],
    "history": ["mappings", "history"],
    "unmapped": ["mappings", "unmapped"],
    "orders": ["orders", "list"],
    "order": ["orders", "show", "1"],
    "lines": ["fulfilments", "list"],
    "show": ["fulfilments", "show", "1"],
    "alerts": ["alerts", "list"],
    "stock": ["stock", "status"],
    "users": ["admin", "list-users"],
    "audit": ["admin", "audit"],
}
HELP_TARGET = 0.15
READ_TARGET = 0.3
TARGETS = {"help": HELP_TARGET} | dict.fromkeys(COMMANDS, READ_TARGET)


def commands(only: set[str] | None = None) -> dict[str, list[str]]:
    """The processes to time, the anchor first; ``only`` names some of the others."""
    bridge = [sys.executable, "-m", "bridge.cli"]
    every = {"help": [*bridge, "--help"]} | {
        name: [*bridge, *args] for name, args in COMMANDS.items()
    }
    return {"anchor": [sys.executable, "-c", "pass"]} | {
        name: argv for name, argv in every.items() if only is None or name in only
    }


def environment(workdir: Path, *, bytecode_cache: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["BRIDGE_DATABASE_URL"] = f"sqlite:///{workdir / 'bridge.db'}"
    env["BRIDGE_SECRET_KEY"] = SECRET_KEY
    if bytecode_cache:
        env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env.pop("PYTHONPYCACHEPREFIX", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def timed(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float]:
    """The process's wall-clock seconds and its CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[1:])} exited {result.returncode}: {result.stderr.strip()[-500:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def prepare(env: dict[str, str]) -> None:
    """Migrate the database once and give it a shop, a supplier and a mapping (through the CLI,
    offline: no Pancake or supplier here), then an order with one line, so every command has a
    row to print."""
    bridge = [sys.executable, "-m", "bridge.cli"]
    timed(
        [*bridge, "shops", "add", "4", "--api-key", "bench-key"]
        + ["--webhook-secret", "bench-webhook-secret-0123", "--offline"],
        env,
    )
    timed(
        [*bridge, "suppliers", "add", "caoshop", "--base-url", "https://caoshop.invalid/api/v1"]
        + ["--api-key", "bench-key", "--api-secret", "bench-secret", "--offline"],
        env,
    )
    timed(
        [*bridge, "mappings", "add", "--shop", "4", "--variation", "v-1", "--supplier"]
        + ["caoshop", "--plan", "320", "--offline", "--allow-loss"],
        env,
    )
    seed = (
        "from bridge.db import make_engine, session_scope\n"
        "from bridge.models import Fulfilment, Order\n"
        "import os\n"
        "engine = make_engine(os.environ['BRIDGE_DATABASE_URL'])\n"
        "with session_scope(engine) as session:\n"
        "    order = Order(shop_id='4', order_id='1001', state='done', item_count=1)\n"
        "    session.add(order)\n"
        "    session.flush()\n"
        "    session.add(Fulfilment(order_pk=order.id, shop_id='4', order_id='1001',\n"
        "        line_key='v-1', variation_id='v-1', item_name='Netflix 1 month', quantity=1,\n"
        "        supplier_name='caoshop', plan_id=320, state='pending'))\n"
    )
    timed([sys.executable, "-c", seed], env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each command")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="every process compiles every module (no __pycache__ read or written)",
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help=f"comma-separated, some of: help, {', '.join(COMMANDS)} (default: all)",
    )
    parser.add_argument(
        "--baseline",
        metavar="DIR",
        type=Path,
        help="another checkout (e.g. `git worktree add /tmp/before HEAD~3`): its commands run "
        "too, alternated with these, on the same database, as `NAME@base`",
    )
    args = parser.parse_args(argv)
    bytecode_cache = not args.no_bytecode_cache
    only = set(args.only.split(",")) if args.only else None
    if only is not None and not only <= set(TARGETS):
        parser.error(f"--only: unknown {', '.join(sorted(only - set(TARGETS)))}")

    with tempfile.TemporaryDirectory(prefix="bridge-cli-bench-") as tmp:
        workdir = Path(tmp)
        env = environment(workdir, bytecode_cache=bytecode_cache)
        prepare(env)
        runs = commands(only)
        # `python -m bridge.cli` imports the bridge of the folder it runs in.
        where = dict.fromkeys(runs, ROOT)
        if args.baseline is not None:  # each command next to its baseline, so drift hits both
            baseline = args.baseline.resolve()
            runs = {
                key: argv_
                for name, argv_ in runs.items()
                for key in ((name,) if name == "anchor" else (name, f"{name}@base"))
            }
            where |= {name: baseline for name in runs if name.endswith("@base")}
        for name, argv_ in runs.items():  # warm-up: fills the bytecode cache, the page cache
            timed(argv_, env, where[name])
        samples: dict[str, list[float]] = {name: [] for name in runs}
        cpu_samples: dict[str, list[float]] = {name: [] for name in runs}
        try:
            for _ in range(args.runs):
                for name, argv_ in runs.items():
                    wall, cpu = timed(argv_, env, where[name])
                    samples[name].append(wall)
                    cpu_samples[name].append(cpu)
        except RuntimeError as exc:
            print(f"FAILED: {exc}")
            return 1

    medians = {name: statistics.median(values) for name, values in samples.items()}
    cpus = {name: statistics.median(values) for name, values in cpu_samples.items()}
    anchor = medians["anchor"]
    mode = "bytecode cache on" if bytecode_cache else "no bytecode cache"
    print(f"{args.runs} runs each, {mode}, python {sys.version.split()[0]} ({sys.executable})")
    for name, values in samples.items():
        print(
            f"  {name:<14} median {medians[name]:.3f} s  ratio {medians[name] / anchor:5.1f}  "
            f"min {min(values):.3f}  max {max(values):.3f}  cpu {cpus[name]:.3f} s  "
            f"({' '.join(runs[name][1:])})"
        )
    measured = [name for name in TARGETS if name in medians]
    missed = [
        f"{name} {medians[name]:.2f} s > {TARGETS[name]} s"
        for name in measured
        if medians[name] > TARGETS[name]
    ]
    if missed and bytecode_cache:
        print(f"FAILED: target missed: {'; '.join(missed)}")
    elif missed:
        print(f"  (targets apply with the bytecode cache; without it: {'; '.join(missed)})")
    print(
        f"anchor_seconds={anchor:.3f} anchor_cpu={cpus['anchor']:.3f} "
        + " ".join(
            f"{name}_seconds={medians[name]:.2f} {name}_ratio={medians[name] / anchor:.1f} "
            f"{name}_cpu={cpus[name]:.2f}"
            for name in measured
        )
    )
    return 1 if missed and bytecode_cache else 0


if __name__ == "__main__":
    raise SystemExit(main())
