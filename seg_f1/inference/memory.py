"""Freed memory handed back to the system during a parse, where the C library allows it.

glibc serves a block below its mmap threshold from its heap, and raises that threshold (up to
32 MB) each time a larger mmapped block is freed, so after the first free of a forward pass's
activations the next ones are carved from the heap and stay resident when freed: a 512 px U-Net
pass on 2 threads then keeps ~110 MB and peaks ~70 MB higher than it needs. Holding the
threshold at glibc's own default (128 KiB) keeps every block above it mmapped and returned on
free (``MALLOC_MMAP_THRESHOLD_`` does the same from the environment). Results do not change."""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold; whether it was set (False off glibc: macOS, musl, Windows)."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
        done = bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))  # the loaded libc
    except (OSError, ValueError, AttributeError):  # no confstr or name, no mallopt
        return False
    log.debug("glibc mmap threshold held at %d bytes: %s", MMAP_THRESHOLD, done)
    return done
