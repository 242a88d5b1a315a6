"""Fixtures of the fault-injection suite, and its one-line summary at the end of the run."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_service
from tests.faults.ledger import SUMMARY
from tests.faults.processes import Zygote
from tests.faults.redis_control import SHARED_REDIS_HOST, SHARED_REDIS_PORT, PrivateRedis
from tests.faults.world import FaultWorld

WORLD = pytest.StashKey[FaultWorld]()

MakeWorld = Callable[..., FaultWorld]


@pytest.fixture(scope="session")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    """One process that imported the bridge and forks worker processes on request."""
    forker = Zygote(tmp_path_factory.mktemp("zygote") / "zygote.log")
    try:
        yield forker
    finally:
        forker.close()


@pytest.fixture
def make_world(
    request: pytest.FixtureRequest, migrated_postgres_url: str, tmp_path: Path, zygote: Zygote
) -> Iterator[MakeWorld]:
    """``make_world(**options)``: a started FaultWorld (no workers yet), closed after the test.

    ``make_world(private_redis=True)`` for a test that stops Redis: the world gets a redis-server of
    its own, killed after the world is closed, however the test ended.
    """
    require_service("Redis", SHARED_REDIS_HOST, SHARED_REDIS_PORT)
    worlds: list[FaultWorld] = []
    private: list[PrivateRedis] = []

    def make(*, private_redis: bool = False, **options: Any) -> FaultWorld:
        assert not worlds, "one world per test"
        if private_redis:
            private.append(PrivateRedis(tmp_path / "redis").start())
            options["redis"] = private[0]
        world = FaultWorld(migrated_postgres_url, tmp_path, zygote=zygote, **options)
        worlds.append(world)
        request.node.stash[WORLD] = world
        return world.start()

    try:
        yield make
    finally:
        try:
            for world in worlds:
                world.close()
        finally:
            for server in private:
                server.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed fault test shows the tails of its worker logs."""
    report = yield
    world = item.stash.get(WORLD, None)
    if world is not None and report.failed and call.when == "call":
        report.sections.append(("worker logs", world.worker_report(lines=40)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SUMMARY.worlds:
        return
    for finding in SUMMARY.findings:
        terminalreporter.write_line(f"fault-suite finding: {finding}")
    terminalreporter.write_line(SUMMARY.line())
