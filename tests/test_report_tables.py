"""The one table model: markdown, CSV and console renderings of the same rows, by hand."""

from __future__ import annotations

import math
import os
import stat

from rich.console import Console

from seg_f1.report.tables import (
    Column,
    Table,
    csv_text,
    markdown,
    record_table,
    rich_table,
    text_table,
)
from seg_f1.runs.io import write_atomically

RECORDS = [
    {"index": 0, "class": "skin", "f1": 0.123456},
    {"index": "", "class": "mean", "f1": math.nan},
]


def test_markdown_formats_floats_to_four_decimals_and_nan_as_a_dash():
    assert markdown(record_table(RECORDS)) == (
        "| index | class | f1 |\n|---|---|---|\n| 0 | skin | 0.1235 |\n|  | mean | - |\n"
    )


def test_markdown_tells_no_value_from_empty_text_and_escapes_bars():
    table = text_table(["a", "b", "c"], [["x|y", "", None]])
    assert markdown(table).splitlines()[2] == r"| x\|y |  | |"


def test_csv_keeps_full_precision_and_writes_no_value_as_empty():
    assert csv_text(record_table(RECORDS)) == "index,class,f1\n0,skin,0.123456\n,mean,nan\n"
    assert csv_text(text_table(["a", "b"], [["1", None]])) == "a,b\n1,\n"


def test_console_shows_the_markdown_text_with_the_class_column_left_aligned():
    table = Table([Column("class", align="left"), Column("n", "{:,}".format)], [["hair", 12345]])
    console = Console(record=True, width=40)
    console.print(rich_table(table))
    text = console.export_text()
    assert "hair" in text and "12,345" in text
    shown = rich_table(table)
    assert [c.justify for c in shown.columns] == ["left", "right"]


def test_written_files_get_the_umask_permissions_and_leave_no_temporary(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomically(tmp_path / "a.md", lambda tmp: tmp.write_text("x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.md").stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.md"]
