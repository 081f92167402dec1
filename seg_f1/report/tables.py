"""One table model, three renderings: markdown for files, CSV for spreadsheets, Rich for the
console. A table is columns (a name, how a value reads, its alignment) and rows of raw values,
so the CSV keeps full precision while markdown and the console show the formatted text.

``print_table`` is how a command shows one: on a terminal Rich fits it to the window, and to a
file or pipe it keeps its full width, every cell whole."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import rich.table
from rich.console import Console
from rich.measure import Measurement


def decimals4(value: Any) -> str:
    """Floats to four decimals, NaN as '-'; anything else as it prints."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return str(value)


@dataclass(frozen=True)
class Column:
    name: str
    format: Callable[[Any], str] = str
    align: str = "right"


@dataclass
class Table:
    """``None`` in a row is no value: an empty cell, as the CSV module writes it."""

    columns: list[Column]
    rows: list[Sequence[Any]] = field(default_factory=list)
    title: str = ""

    def texts(self) -> list[list[str | None]]:
        return [
            [None if v is None else c.format(v) for c, v in zip(self.columns, row, strict=True)]
            for row in self.rows
        ]


def record_table(records: Sequence[Mapping[str, Any]], title: str = "", **formats) -> Table:
    """Columns named by the first record's keys; ``formats`` by column name, default
    :func:`decimals4`; the ``class`` column is left-aligned like a label."""
    columns = [
        Column(key, formats.get(key, decimals4), "left" if key == "class" else "right")
        for key in records[0]
    ]
    return Table(columns, [list(record.values()) for record in records], title)


def text_table(header: Sequence[str], rows: list[Sequence[str | None]], title: str = "") -> Table:
    """Cells already written as text, shown as they are."""
    return Table([Column(name) for name in header], rows, title)


def markdown_lines(table: Table) -> list[str]:
    """Header, rule and one line per row; a '|' inside a cell is escaped."""
    lines = [_markdown_row([c.name for c in table.columns]), "|" + "---|" * len(table.columns)]
    return lines + [_markdown_row(row) for row in table.texts()]


def _markdown_row(cells: Sequence[str | None]) -> str:
    inner = (" " if cell is None else " " + cell.replace("|", r"\|") + " " for cell in cells)
    return "|" + "|".join(inner) + "|"


def markdown(table: Table) -> str:
    return "\n".join(markdown_lines(table)) + "\n"


def csv_text(table: Table) -> str:
    """Raw values (floats at full precision), not the formatted text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.name for c in table.columns])
    writer.writerows(table.rows)
    return out.getvalue()


def rich_table(table: Table) -> rich.table.Table:
    """At least as wide as its title, so the title is never wrapped mid-number."""
    shown = rich.table.Table(title=table.title or None, min_width=len(table.title))
    for column in table.columns:
        shown.add_column(column.name, justify=column.align)
    for row in table.texts():
        shown.add_row(*("" if text is None else text for text in row))
    return shown


def print_table(table: Table, file: IO[str] | None = None) -> None:
    """To a file or pipe (a log, ``| tee``, CI) at the table's full width: there Rich would
    cut it at 80 columns, wrapping or ellipsising cells. On a terminal, fitted to the window."""
    console = Console(file=file)
    shown = rich_table(table)
    if not console.is_terminal:
        console.width = max(console.width, full_width(console, shown))
    console.print(shown)


def full_width(console: Console, shown: rich.table.Table) -> int:
    """The columns ``shown`` takes with nothing wrapped, whatever width the console has."""
    unbounded = console.options.update_width(1_000_000)
    return Measurement.get(console, unbounded, shown).maximum
