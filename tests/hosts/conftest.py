"""Two hosts for the tests here: skipped only where this machine forbids network namespaces."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.hosts.network import Lan, namespaces_possible


@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    reason = namespaces_possible()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs as root on a machine that allows namespaces: {reason}")
        pytest.skip(reason)
    network = Lan(hosts=2).open()
    try:
        yield network
    finally:
        network.close()
