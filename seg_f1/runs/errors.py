"""Which failures are the user's to fix, and the one line that tells them how.

A command's own checks already name the bad key, file or value; buried under Hydra's traceback
that line is easy to miss. An error counts as the user's when one of this project's checks raised
it (a ``ValueError``, ``LookupError`` or ``OSError`` from code under ``seg_f1/``), when an
``OSError`` names the file it could not use, or when Lightning or OmegaConf refused the config.
Anything else is a bug and keeps its traceback; ``HYDRA_FULL_ERROR=1`` keeps it for every error.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIRS = tuple(
    str(Path(__file__).resolve().parents[2] / name) + os.sep for name in ("seg_f1", "hydra_plugins")
)
CHECKED_TYPES = (ValueError, LookupError, OSError)


def user_error_message(error: BaseException) -> str | None:
    """The message of an error the user can fix from it alone, or None for a bug."""
    from hydra.errors import InstantiationException
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from omegaconf.errors import OmegaConfBaseException

    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__  # the datamodule's or loss's own check, not Hydra's wrapper
    if isinstance(error, (MisconfigurationException, OmegaConfBaseException)):
        return _message(error)
    if isinstance(error, OSError) and error.filename is not None:
        return _message(error)
    if isinstance(error, CHECKED_TYPES) and _raised_by_project(error):
        return _message(error)
    return None


def full_error_wanted() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def _raised_by_project(error: BaseException) -> bool:
    """Whether the innermost frame that raised ``error`` is this project's code."""
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return traceback.tb_frame.f_code.co_filename.startswith(PROJECT_DIRS)


def _message(error: BaseException) -> str:
    if isinstance(error, KeyError) and len(error.args) == 1:
        return str(error.args[0])  # str(KeyError) quotes its message
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    return str(error) or type(error).__name__
