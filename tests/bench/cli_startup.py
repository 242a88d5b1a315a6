"""CLI start-up benchmark: `bridge --help` and a list command, timed as whole processes.

Run it from the repository root::

    uv run python tests/bench/cli_startup.py                 # 9 runs of each
    uv run python tests/bench/cli_startup.py --runs 21
    uv run python tests/bench/cli_startup.py --no-bytecode-cache

What it measures, in one run, each as a fresh ``python`` process started the way a shell starts
``bridge`` (the wall clock from spawn to exit, output to a pipe that is read to the end):

* **anchor**: ``python -c pass``, the interpreter's own start-up on this machine right now;
* **help**: ``python -m bridge.cli --help``;
* **list**: ``python -m bridge.cli shops list`` on a temporary SQLite database that was migrated
  (and given one shop) beforehand, with ``BRIDGE_DATABASE_URL`` and ``BRIDGE_SECRET_KEY`` set,
  so it pays for the settings, the models, the schema check and one query.

The three alternate (anchor, help, list, anchor, ...) so slow drift of this shared machine hits
them alike. Each figure is the median of ``--runs``; each ratio is that median over the anchor's
median from the same run, which is the figure to compare between machines.

Bytecode: Python normally caches compiled modules (``__pycache__``); an environment may forbid
it (``PYTHONDONTWRITEBYTECODE=1``; this project sets ``compile-bytecode`` so that ``uv sync``
compiles the dependencies at install time), and then every process compiles every module it
imports that has no cached bytecode yet, which costs more than running them. By default the
benchmark points ``PYTHONPYCACHEPREFIX`` at a private directory,
warms it with one untimed run of each command, and measures what an installed ``bridge`` costs;
nothing outside the temporary directory is written. ``--no-bytecode-cache`` measures the other
case as this machine has it: ``PYTHONDONTWRITEBYTECODE=1`` and only the ``__pycache__`` that
exists already (typically the standard library's, not the virtualenv's).

Targets (with the cache): help under 0.5 s, list under 1.5 s. The script exits 1 when a command
fails, or when a target is missed with the cache on. The last line is
``help_seconds=... help_ratio=... list_seconds=... list_ratio=...``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "cli-startup-benchmark-secret-key"
TARGETS = {"help": 0.5, "list": 1.5}


def commands() -> dict[str, list[str]]:
    python = sys.executable
    return {
        "anchor": [python, "-c", "pass"],
        "help": [python, "-m", "bridge.cli", "--help"],
        "list": [python, "-m", "bridge.cli", "shops", "list"],
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


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[1:])} exited {result.returncode}: {result.stderr.strip()[-500:]}"
        )
    return elapsed


def prepare(env: dict[str, str]) -> None:
    """Migrate the database once and give it a shop, so `shops list` has a row to print."""
    setup = [sys.executable, "-m", "bridge.cli", "shops", "add", "4"]
    setup += ["--api-key", "bench-key", "--webhook-secret", "bench-webhook-secret-0123"]
    setup += ["--offline"]  # no Pancake here to read the shop from
    timed(setup, env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each command")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="every process compiles every module (no __pycache__ read or written)",
    )
    args = parser.parse_args(argv)
    bytecode_cache = not args.no_bytecode_cache

    with tempfile.TemporaryDirectory(prefix="bridge-cli-bench-") as tmp:
        workdir = Path(tmp)
        env = environment(workdir, bytecode_cache=bytecode_cache)
        prepare(env)
        runs = commands()
        for argv_ in runs.values():  # warm-up: fills the bytecode cache, the page cache
            timed(argv_, env)
        samples: dict[str, list[float]] = {name: [] for name in runs}
        try:
            for _ in range(args.runs):
                for name, argv_ in runs.items():
                    samples[name].append(timed(argv_, env))
        except RuntimeError as exc:
            print(f"FAILED: {exc}")
            return 1

    medians = {name: statistics.median(values) for name, values in samples.items()}
    anchor = medians["anchor"]
    mode = "bytecode cache on" if bytecode_cache else "no bytecode cache"
    print(f"{args.runs} runs each, {mode}, python {sys.version.split()[0]} ({sys.executable})")
    for name, values in samples.items():
        print(
            f"  {name:<6} median {medians[name]:.3f} s  "
            f"min {min(values):.3f}  max {max(values):.3f}  ({' '.join(commands()[name][1:])})"
        )
    missed = [
        f"{name} {medians[name]:.2f} s > {limit} s"
        for name, limit in TARGETS.items()
        if medians[name] > limit
    ]
    if missed and bytecode_cache:
        print(f"FAILED: target missed: {'; '.join(missed)}")
    elif missed:
        print(f"  (targets apply with the bytecode cache; without it: {'; '.join(missed)})")
    print(
        f"anchor_seconds={anchor:.3f} "
        f"help_seconds={medians['help']:.2f} help_ratio={medians['help'] / anchor:.1f} "
        f"list_seconds={medians['list']:.2f} list_ratio={medians['list'] / anchor:.1f}"
    )
    return 1 if missed and bytecode_cache else 0


if __name__ == "__main__":
    raise SystemExit(main())
