"""Atomic file writes (every result, report and cache file goes through one helper), and the
fingerprint that tells a cache its source files changed."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomically(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``, so
    a crash or a concurrent reader never sees half a file. The temporary name keeps ``path``'s
    suffix, for writers that choose the format by it; it is created with the umask's permissions
    (not ``mkstemp``'s owner-only ones), so the result reads like any other file of the user's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def written_files(folder: Path, pattern: str) -> list[Path]:
    """``folder.glob(pattern)`` without the dot-named temporary files of ``write_atomically``
    that a killed write leaves behind."""
    return [p for p in Path(folder).glob(pattern) if not p.name.startswith(".")]


def staging_directory(parent: Path, prefix: str) -> Path:
    """A new uniquely named folder in ``parent`` for a cache being built, made as ``mkdir`` makes
    folders (the umask's permissions, not ``mkdtemp``'s owner-only 0700), so once renamed into
    place a teammate on a shared machine can read the cache."""
    while True:
        path = Path(parent) / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def fingerprint(files: dict[str, os.stat_result]) -> str:
    """A digest of each file's name, size and mtime: it changes when any file is rewritten."""
    rows = sorted((name, st.st_size, st.st_mtime_ns) for name, st in files.items())
    return hashlib.sha1(json.dumps(rows).encode()).hexdigest()
