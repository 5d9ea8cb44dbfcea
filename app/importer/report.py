"""The end report of an import, and the progress bar shown while it runs.

Counts are always complete; the detail lists (rejected rows, numbers that could not be
normalised, merged duplicates) keep the first `MAX_DETAILS` entries so a file full of bad
rows cannot grow memory without limit, and a per-reason tally covers the rest.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from app.importer.rows import BadNumber, Numberless, Rejection

MAX_DETAILS = 1_000
SHOWN_MERGES = 20

ProgressCallback = Callable[[int, int], None]
"""Called after each batch with (bytes read, rows read)."""

_DETAIL = re.compile(r" ?'[^']*'| ?\([^)]*\)")
_DIGITS = re.compile(r"\d+")


def reason_kind(reason: str) -> str:
    """A reason without its particulars, for the tally: "bad language tag", "name too long"."""
    return _DIGITS.sub("N", _DETAIL.sub("", reason)).strip()


@dataclass
class ImportReport:
    """What an import did; rows = imported + updated + unchanged + merged + rejected."""

    file: str
    tenant: str
    format: str
    encoding: str
    delimiter: str | None
    dry_run: bool
    rows: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    rejected: int = 0
    numbers_stored: int = 0
    numbers_not_normalised: int = 0
    without_number: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    bad_numbers: list[BadNumber] = field(default_factory=list)
    numberless: list[Numberless] = field(default_factory=list)
    merges: list[tuple[int, str]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def reject(self, rejection: Rejection) -> None:
        """Count a rejected row."""
        self.rejected += 1
        for reason in rejection.reasons:
            self.reasons[reason_kind(reason)] += 1
        if len(self.rejections) < MAX_DETAILS:
            self.rejections.append(rejection)

    def bad_number(self, bad: BadNumber) -> None:
        """Count a number that could not be normalised."""
        self.numbers_not_normalised += 1
        if len(self.bad_numbers) < MAX_DETAILS:
            self.bad_numbers.append(bad)

    def no_number(self, numberless: Numberless) -> None:
        """Count a contact imported without any number."""
        self.without_number += 1
        if len(self.numberless) < MAX_DETAILS:
            self.numberless.append(numberless)

    def got_number(self, contact_id: int) -> None:
        """Uncount a contact that a later row of the file gave a number."""
        self.without_number -= 1
        self.numberless = [n for n in self.numberless if n.contact_id != contact_id]

    def merge(self, merges: list[tuple[int, str]]) -> None:
        """Count rows merged into another row's contact."""
        self.merged += len(merges)
        room = MAX_DETAILS - len(self.merges)
        if room > 0:
            self.merges.extend(merges[:room])

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def render(report: ImportReport, console: Console) -> None:
    """Print the end report."""
    what = report.format.upper() if report.format == "csv" else "vCard"
    if report.delimiter is not None:
        what += f", delimiter {report.delimiter!r}"
    console.print(
        f"[bold]Import[/] {escape(report.file)} → tenant [bold]{escape(report.tenant)}[/] "
        f"({what}, {report.encoding})",
        soft_wrap=True,
    )
    if report.dry_run:
        console.print(
            "[yellow]Dry run: nothing was written[/] (so a duplicate of a row in an earlier "
            "batch counts as new).",
            soft_wrap=True,
        )
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("rows", justify="right")
    for label, count in (
        ("cards read" if report.format == "vcard" else "rows read", report.rows),
        ("imported (new contacts)", report.imported),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("merged duplicates", report.merged),
        ("rejected", report.rejected),
        ("numbers stored", report.numbers_stored),
        ("numbers not normalised", report.numbers_not_normalised),
        ("contacts without a number", report.without_number),
    ):
        table.add_row(label, f"{count:,}")
    console.print(table)
    _details(
        console,
        "Rejected rows",
        [f"line {r.line}: {r.reason}" for r in report.rejections],
        report.rejected,
    )
    if report.rejected > len(report.rejections):
        tally = ", ".join(f"{kind}: {n:,}" for kind, n in report.reasons.most_common())
        console.print(f"  all rejections by reason: {escape(tally)}", soft_wrap=True)
    _details(
        console,
        "Numbers not normalised (their contacts are imported without them)",
        [f"line {b.line}: {b.raw!r}: {b.reason}" for b in report.bad_numbers],
        report.numbers_not_normalised,
    )
    _details(
        console,
        "Imported without a phone number (a call cannot recognise them; add one to fix)",
        [f"line {n.line}: {n.reason}" for n in report.numberless],
        report.without_number,
    )
    _details(
        console,
        "Merged duplicates",
        [f"line {line}: {why}" for line, why in report.merges[:SHOWN_MERGES]],
        report.merged,
    )
    if report.ignored:
        console.print(
            f"Ignored {'properties' if report.format == 'vcard' else 'columns'}: "
            f"{escape(', '.join(report.ignored))} (use --map field=name to import one)",
            soft_wrap=True,
        )
    console.print(
        f"{report.rows:,} rows in {report.seconds:.1f} s ({report.rate:,.0f} rows/s)",
        markup=False,
    )


def _details(console: Console, title: str, lines: list[str], total: int) -> None:
    if not lines:
        return
    console.print(f"{title}:")
    for line in lines:
        console.print(f"  {line}", markup=False, soft_wrap=True)
    if total > len(lines):
        console.print(f"  … and {total - len(lines):,} more", markup=False)


@contextmanager
def progress_bar(console: Console, total_bytes: int) -> Iterator[ProgressCallback]:
    """A bar over the file's bytes (so it works while streaming) with rows, rate and ETA."""
    if not console.is_terminal:
        yield lambda _bytes, _rows: None
        return
    with Progress(
        TextColumn("[bold]Importing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]} rows, {task.fields[rate]} rows/s"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("import", total=max(total_bytes, 1), rows="0", rate="-")
        started = time.monotonic()

        def update(bytes_read: int, rows: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            progress.update(
                task, completed=bytes_read, rows=f"{rows:,}", rate=f"{rows / elapsed:,.0f}"
            )

        yield update
