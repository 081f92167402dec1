"""Atomic file writes (every result, report and cache file goes through one helper), the one-line
error a full disk or an unwritable folder gives, and the fingerprint that tells a cache its
source files changed."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


class WriteFailed(OSError):
    """A file could not be written because its disk is full or its folder is not writable. The
    message is one line: the file, the bytes it needed when known, and the system's reason
    (a torch or Pillow error that wraps ``No space left on device`` names no file)."""


def temporary_beside(path: Path) -> Path:
    """A new dot-named file name in ``path``'s folder, keeping its suffix: dot-named so that
    ``written_files`` skips one a killed write leaves behind, beside it so that the rename into
    place stays on one filesystem."""
    return path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}"


def write_atomically(path: Path, write: Callable[[Path], Any], needed: int | None = None) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``, so
    a crash or a concurrent reader never sees half a file, and a failed write (a full disk)
    leaves the previous ``path`` as it was. The temporary name keeps ``path``'s suffix, for
    writers that choose the format by it; it is created with the umask's permissions (not
    ``mkstemp``'s owner-only ones), so the result reads like any other file of the user's.
    ``needed``: the bytes the file takes, when the caller knows, for the error message.

    Raises:
        WriteFailed: the disk is full or the folder is not writable (see ``raise_if_unwritable``).
    """
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise_if_unwritable(path, error, needed)
        raise
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as error:
        written, free = _size(tmp), _free(path)  # as the disk was when the write failed
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise_if_unwritable(path, error, needed, written, free)
        raise


def link_atomically(source: Path, path: Path) -> bool:
    """Make ``path`` a hard link to ``source`` (the same bytes on disk, written once), replacing
    ``path`` in one rename as ``write_atomically`` does. False, with nothing changed, where the
    link cannot be made (a filesystem without hard links, another filesystem, a full or
    read-only folder): the caller writes the file instead, and its writer names any error.

    A later ``write_atomically(path, ...)`` renames a new file over the link, so it never writes
    through it into ``source``."""
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        os.link(source, tmp)
    except OSError:
        return False
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def raise_if_unwritable(
    path: Path,
    error: BaseException,
    needed: int | None = None,
    written: int | None = None,
    free: int | None = None,
) -> None:
    """Raise :class:`WriteFailed` for ``path`` when ``error`` (or an error it wraps) is a full
    disk or a folder that refuses writing; return otherwise, for the caller to re-raise."""
    cause = _os_error(error, DISK_FULL + NOT_WRITABLE)
    if cause is None:
        return
    path = Path(path)
    reason = f"{os.strerror(cause.errno)} [{errno.errorcode.get(cause.errno, cause.errno)}]"
    if cause.errno in DISK_FULL:
        size = f"it needs {_bytes(needed)}" if needed else "its size is not known"
        if written:
            size += f", {_bytes(written)} were written before the disk filled"
        free = _free(path) if free is None else free
        where = f"{size}; {_bytes(free)} free there" if free is not None else size
        advice = "free space on that disk, or write elsewhere"
    else:
        where = "the folder refuses writing"
        advice = f"make {path.parent} writable, or write elsewhere"
    kept = f"the previous {path.name} is unchanged" if path.exists() else "nothing was written"
    failed = WriteFailed(f"cannot write {path}: {reason}; {where}. {advice.capitalize()}; {kept}")
    failed.errno = cause.errno  # the message stays ours: a filename would make it OSError's
    raise failed from None


def _os_error(error: BaseException | None, errnos: tuple[int, ...]) -> OSError | None:
    """The first ``OSError`` with one of ``errnos`` in ``error``'s chain of causes and contexts."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in errnos:
            return error
        error = error.__cause__ or error.__context__
    return None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _free(path: Path) -> int | None:
    """Free bytes on the disk that would hold ``path`` (its nearest existing folder's)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _bytes(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"


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
        except OSError as error:
            raise_if_unwritable(path, error)
            raise
        return path


def fingerprint(files: dict[str, os.stat_result]) -> str:
    """A digest of each file's name, size and mtime: it changes when any file is rewritten."""
    rows = sorted((name, st.st_size, st.st_mtime_ns) for name, st in files.items())
    return hashlib.sha1(json.dumps(rows).encode()).hexdigest()
