"""How a person runs this program again, for the commands it prints (the simulators' blocks,
``bridge run``'s console line).

Never the bare name ``bridge``: on Debian and most Linux systems that is iproute2's ``bridge``,
which answers ``Object "shops" is unknown``.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import bridge

# The name pip and uv install; ``bridge`` is installed too, but iproute2's comes first on a PATH.
INSTALLED_NAME = "pancake-bridge"


def checkout() -> Path | None:
    """The source checkout this program runs from (a uv project), or None when installed."""
    root = Path(bridge.__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "uv.lock").is_file():
        return root
    return None


def program(cwd: Path | None = None) -> str:
    """The command that runs this program, as a shell line starts it.

    From a checkout, with uv on the PATH: ``uv run bridge`` (``uv run --project ROOT bridge``
    from a folder outside the checkout). Installed: ``pancake-bridge`` when the shell finds this
    very installation by that name. Else this interpreter with ``-m bridge.cli``.
    """
    root = checkout()
    if root is not None and shutil.which("uv") is not None:
        here = (cwd or Path.cwd()).resolve()
        if here == root or root in here.parents:
            return "uv run bridge"
        return f"uv run --project {shlex.quote(str(root))} bridge"
    found = shutil.which(INSTALLED_NAME)
    if found is not None and Path(found).parent.resolve() == Path(sys.executable).parent.resolve():
        return INSTALLED_NAME
    return f"{shlex.quote(sys.executable)} -m bridge.cli"
