"""seg_f1: face-parsing segmentation trained on differentiable losses, judged by F1."""

import os
from pathlib import Path

from omegaconf import OmegaConf

_PACKAGE = Path(__file__).resolve().parent
# the Hydra config tree every tool composes: shipped inside the package by a wheel
# (seg_f1/conf), at the top of the checkout otherwise (an editable install, or a plain clone)
CONF_DIR = _PACKAGE / "conf" if (_PACKAGE / "conf").is_dir() else _PACKAGE.parent / "conf"
ROOT_ENV = "SEG_F1_ROOT"


def default_root() -> str:
    """Where data, caches and outputs go unless ``paths.root_dir`` says otherwise:
    ``$SEG_F1_ROOT``, else the checkout seg_f1 runs from, else the user's data folder
    (``$XDG_DATA_HOME/seg_f1``, by default ``~/.local/share/seg_f1``); never the working folder,
    so a run started elsewhere does not scatter ``data/`` and ``outputs/`` there."""
    if os.environ.get(ROOT_ENV):
        return str(Path(os.environ[ROOT_ENV]).expanduser().resolve())
    checkout = _PACKAGE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "conf").is_dir():
        return str(checkout)
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return str(Path(data_home) / "seg_f1")


def _first_set(value, default):
    """``${seg_f1.or:${resume},outputs/...}``: the run directory is the resumed one if given."""
    return default if value in (None, "") else value


OmegaConf.register_new_resolver("seg_f1.or", _first_set, replace=True)
OmegaConf.register_new_resolver("seg_f1.root", default_root, replace=True)
