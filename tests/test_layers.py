"""The layering rule, read from the code's own imports, so the rooms keep showing the architecture.

Floors, from the ground up; a module may import its own floor and the floors below it:

1. ``bridge/*.py``: settings, db, models, states, errors, logs, secrets, retrying, http_errors,
   paging
2. ``bridge/pancake``, ``bridge/supplier``: one room per external API, each owning its client,
   its records and set-up (shops and webhooks; suppliers, probes, catalogues, the breaker), and
   neither knowing the other
3. ``mappings``: the mapping table, and nothing else
4. ``workers/queue``: the queue's plumbing (broker, dispatch, actors, scheduler, context, leases,
   heartbeat), knowing no domain
5. ``workers/fulfilment``, ``workers/stock``, ``workers/alerts``, ``workers/suppliers``: the
   domains' steps
6. ``bridge/web``: the webhook endpoint and ingest
7. ``bridge/runtime``: the wiring of web and workers
8. ``bridge/dev``: demo, sandbox, simulators; ``bridge/cli``: the command line (may use all)

Besides: the simulators import nothing of the bridge (they spell the protocol from the docs), and
the migrations may read every room's ``models`` and the ground floor, nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bridge", "workers", "mappings")

FLOORS: list[tuple[str, ...]] = [
    ("bridge._ground",),
    ("bridge.pancake", "bridge.supplier"),
    ("mappings",),
    ("workers.queue",),
    ("workers.fulfilment", "workers.stock", "workers.alerts", "workers.suppliers"),
    ("bridge.web",),
    ("bridge.runtime",),
    ("bridge.dev", "bridge.cli"),
]
# Rooms of one floor that may import each other (others on a floor may not).
SIBLINGS = {
    ("workers.fulfilment", "workers.stock"),
    ("workers.fulfilment", "workers.alerts"),
    ("workers.stock", "workers.alerts"),
    ("workers.fulfilment", "workers.suppliers"),
    ("workers.stock", "workers.suppliers"),
    ("workers.suppliers", "workers.alerts"),
    ("bridge.dev", "bridge.cli"),
    ("bridge.cli", "bridge.dev"),
}


def room(module: str) -> str:
    """The room a first-party module lives in (``bridge._ground`` for bridge's own modules)."""
    parts = module.split(".")
    if parts[0] == "mappings":
        return "mappings"
    if parts[0] == "workers":
        if len(parts) == 1:
            return "workers.queue"  # the package's own __init__, empty
        assert (ROOT / "workers" / parts[1]).is_dir(), (
            f"{module}: every module of workers/ lives in a room (queue or a domain)"
        )
        return ".".join(parts[:2])
    if len(parts) > 1 and (ROOT / "bridge" / parts[1]).is_dir():
        return ".".join(parts[:2])
    return "bridge._ground"


def floor(room_name: str) -> int:
    return next(i for i, rooms in enumerate(FLOORS) if room_name in rooms)


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found.append((dotted.removesuffix(".__init__"), path))
    return found


def imports(path: Path) -> list[str]:
    """First-party modules ``path`` imports, at the top or inside functions."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return [name for name in names if name.split(".")[0] in PACKAGES]


def test_the_rule_reads_real_imports() -> None:
    """A guard for the guard: the walk must see the imports that exist, in every floor."""
    seen = {room(target) for _, path in modules() for target in imports(path)}
    assert {"bridge._ground", "bridge.supplier", "workers.queue", "workers.stock"} <= seen
    assert room("bridge.dev.simulators.pancake") == "bridge.dev"
    assert room("workers.queue.leases") == "workers.queue"
    assert room("bridge.states") == "bridge._ground"


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v))
def test_imports_point_down(module: str, path: Path) -> None:
    source = room(module)
    if module.startswith("bridge.migrations"):
        # The schema of every room: models and the ground floor only.
        wrong = [
            t for t in imports(path) if room(t) != "bridge._ground" and "models" not in t.split(".")
        ]
        assert not wrong, f"{module} imports {wrong}"
        return
    if module.startswith("bridge.dev.simulators"):
        wrong = [t for t in imports(path) if not t.startswith("bridge.dev.simulators")]
        assert not wrong, f"the simulator {module} must spell the protocol itself: {wrong}"
        return
    for target in imports(path):
        into = room(target)
        if into == source or (source, into) in SIBLINGS:
            continue
        assert floor(into) < floor(source), (
            f"{module} (floor {floor(source)}, {source}) imports {target} "
            f"(floor {floor(into)}, {into}): imports must point down"
        )
