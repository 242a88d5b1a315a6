"""How the commands talk to a person or a script: sentences, tables, JSON, errors, progress.

Everything a command prints goes through here. Rich draws the tables and the progress bar, but
only where a person looks: when stdout is not a terminal (a pipe, a file, a test) a table is
plain text, header row first, columns separated by two spaces, no box characters and no cell
wrapped or cut, so ``awk``/``split()`` read it. ``--json`` prints plain values and nothing else
on stdout. Rich is imported only when it draws (a table on a terminal, a progress bar), so
``bridge --help`` and scripts never pay for it. Rich takes about a millisecond per table row,
so a long table is printed as plain columns on a terminal too.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON on stdout (plain values, nothing else) instead."),
]


class ProgressMode(StrEnum):
    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


ProgressOption = Annotated[
    ProgressMode,
    typer.Option("--progress", help="Progress bars on stderr (auto: when stderr is a terminal)."),
]

# Width of a console that is not a terminal: wide enough that no line is ever wrapped.
PLAIN_WIDTH = 1_000_000
NO_ROWS = "(none)"
# Rich spends about a millisecond per row on a table: longer ones are printed as plain columns.
RICH_TABLE_MAX_ROWS = 500
# Draw the progress bar only for runs that take longer than this.
PROGRESS_AFTER_SECONDS = 0.5


def say(text: str = "") -> None:
    """A sentence on stdout."""
    sys.stdout.write(text + "\n")


def error(message: object) -> None:
    """``error: <message>`` on stderr."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def note(text: str) -> None:
    """A line for the person on stderr (e.g. "worker running"), never mixed into data."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console(stream: TextIO | None = None, *, force_terminal: bool | None = None) -> Console:
    """A Rich console on ``stream`` (stdout by default) that never reads markup in data."""
    from rich.console import Console

    stream = stream or sys.stdout
    terminal = is_terminal(stream) if force_terminal is None else force_terminal
    return Console(
        file=stream,
        force_terminal=force_terminal,
        width=None if terminal else PLAIN_WIDTH,
        markup=False,
        emoji=False,
        highlight=False,
    )


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """A table on stdout; ``(none)`` under the header when there are no rows.

    On a terminal Rich draws it (bold header, wrapped to the window). Anywhere else, and for
    tables too long for Rich to draw quickly, it is plain text: the header row first, columns
    padded and separated by two spaces, nothing wrapped or cut.
    """
    cells = [[str(cell) for cell in row] for row in rows]
    out = sys.stdout
    if is_terminal(out) and len(cells) <= RICH_TABLE_MAX_ROWS:
        _rich_table(out, headers, cells)
    else:
        out.write(plain_table(headers, cells))
    if not cells:
        say(NO_ROWS)


def plain_table(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """The table as text for scripts: aligned columns, two spaces apart, no trailing blanks."""
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in lines
    )


def _rich_table(out: TextIO, headers: Sequence[str], cells: Sequence[Sequence[str]]) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    console(out).print(table)


def print_json(data: object) -> None:
    """``data`` as JSON on stdout: datetimes as ISO 8601, enums as their values."""
    sys.stdout.write(json.dumps(plain(data), ensure_ascii=False, indent=2) + "\n")


def plain(value: object) -> Any:
    """``value`` made of JSON types only."""
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, Iterable):
        return [plain(item) for item in value]
    return str(value)


def when(moment: datetime | None) -> str:
    """A timestamp for a table cell."""
    return moment.isoformat(timespec="seconds") if moment else "-"


def dash(value: object) -> object:
    """``-`` for an empty cell."""
    return "-" if value is None or value == "" else value


def local_time(moment: datetime | None, now: datetime | None = None) -> str:
    """A moment as a person reads it: local time (the machine's zone, or ``TZ``) to the minute,
    the zone, and how long ago (``2026-12-07 16:02 +07, 5 min ago``); "" for none."""
    if moment is None:
        return ""
    local = moment.astimezone()
    ago = ((now or datetime.now(local.tzinfo)) - moment).total_seconds()
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}, {_ago(ago)}"


def _ago(seconds: float) -> str:
    if seconds < -60:  # beyond a clock's small difference with the database's
        return "in the future"
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def print_fields(pairs: Sequence[tuple[str, object]]) -> None:
    """``Label: value`` lines on stdout, the values aligned; empty values are left out."""
    shown = [(label, str(value)) for label, value in pairs if value not in (None, "")]
    width = max((len(label) for label, _ in shown), default=0) + 1
    for label, value in shown:
        say(f"  {label + ':':<{width}} {value}")


def command_line(*words: str) -> str:
    """The shell line a person pastes to run ``bridge <words>`` (never the bare ``bridge``,
    which on Debian is iproute2's: see ``bridge.cli.invocation``)."""
    from bridge.cli.invocation import program

    return " ".join([program(), *words])


class SyncProgress:
    """``progress(phase, done, total)`` drawn as Rich progress bars, once a run takes a while.

    One bar per phase (``total`` None: a count of pages). Nothing is drawn, and Rich is not even
    imported, for a run shorter than ``after`` seconds or when ``enabled`` is False.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        force_terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        after: float | None = None,
    ) -> None:
        self._stream = stream
        self._enabled = enabled
        self._force_terminal = force_terminal
        self._clock = clock
        self._start = clock()
        self._after = PROGRESS_AFTER_SECONDS if after is None else after
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self._enabled or self._clock() - self._start < self._after:
            return
        progress = self._progress or self._open()
        count = f"{done}/{total}" if total else f"page {done}"
        task = self._tasks.get(phase)
        if task is None:
            self._tasks[phase] = progress.add_task(phase, total=total, completed=done, count=count)
        else:
            progress.update(task, total=total, completed=done, count=count)

    def _open(self) -> Progress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=console(self._stream, force_terminal=self._force_terminal),
        )
        self._progress.start()
        return self._progress

    def finish(self) -> None:
        """Leave the bars as they ended (a page count shows as complete)."""
        if self._progress is None:
            return
        for task in self._progress.tasks:
            if task.total is None:
                self._progress.update(task.id, total=task.completed or 1, completed=task.completed)
        self._progress.stop()
        self._progress = None
        self._tasks.clear()


def progress_bar(mode: ProgressMode) -> SyncProgress:
    """The progress bars a ``--progress`` option asks for, on stderr."""
    return SyncProgress(
        sys.stderr,
        enabled=mode == ProgressMode.ALWAYS
        or (mode == ProgressMode.AUTO and is_terminal(sys.stderr)),
        force_terminal=True if mode == ProgressMode.ALWAYS else None,
    )
