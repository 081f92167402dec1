"""Where a run's record goes and how it is read: atomically beside the run, else rewritten in
place, else under the temp dir (and always printed), so a record never keeps saying ``running``
for a run that ended, whatever its folder allows."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from seg_f1.runs.io import write_atomically

RECORDS_DIR = "seg_f1-records"  # under the temp dir: where a record goes that its folder refused


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    text = json.dumps(data, indent=2, allow_nan=True) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text), needed=len(text.encode()))


def save_record(path: Path, data: dict[str, Any]) -> Path | None:
    """Write a run's final record where its readers look, whatever the folder allows: atomically;
    else over the existing file in place (a folder that refuses new files may still let its
    files be rewritten, and a full disk the blocks the file already holds); else to
    :func:`fallback_record`. A record that missed the atomic write is also printed to stderr,
    naming where it went. Returns where it went, or None."""
    try:
        write_json_atomic(path, data)
        return path
    except OSError as error:
        refused = error
    text = json.dumps(data, indent=2, allow_nan=True) + "\n"
    where = None
    with contextlib.suppress(OSError):
        _rewrite_in_place(path, text.encode())
        where = path
    if where is None:
        fallback = fallback_record(path)
        with contextlib.suppress(OSError):
            fallback.parent.mkdir(parents=True, exist_ok=True)
            fallback.write_text(json.dumps({**data, "run_dir": str(path.parent)}, indent=2))
            where = fallback
    went = f"it was written to {where} instead" if where else "it is only here"
    # a WriteFailed already names the file
    why = str(refused) if str(path) in str(refused) else f"could not write {path} ({refused})"
    print(f"seg_f1: {why}; {went}. The run's record:\n{text}", file=sys.stderr)
    return where


def _rewrite_in_place(path: Path, new: bytes) -> None:
    """Overwrite an existing file without creating one; put the old bytes back if the new ones
    do not fit, so readers never meet half a record."""
    old = path.read_bytes()
    try:
        with open(path, "r+b") as handle:
            handle.write(new)
            handle.truncate()
    except OSError:
        with contextlib.suppress(OSError), open(path, "r+b") as handle:
            handle.write(old)
            handle.truncate()
        raise


def fallback_record(path: Path) -> Path:
    """``<temp dir>/seg_f1-records/<the run folder's absolute path, / as __>.json``."""
    name = str(Path(path).parent.resolve()).strip("/").replace("/", "__") or "root"
    return Path(tempfile.gettempdir()) / RECORDS_DIR / f"{name}.json"


def read_result(path: Path) -> dict[str, Any]:
    with open(path) as stream:
        return json.load(stream)
