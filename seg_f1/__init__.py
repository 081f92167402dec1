"""seg_f1: face-parsing segmentation trained on differentiable losses, judged by F1."""

import os
from pathlib import Path

from omegaconf import ListConfig, OmegaConf

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


def counted(number: int, noun: str) -> str:
    """``1 image``, ``2 images``: what every command prints about a count."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _first_set(value, default):
    """``${seg_f1.or:${resume},outputs/...}``: the run directory is the resumed one if given."""
    return default if value in (None, "") else value


# The label resolvers import seg_f1.data late: it loads torch and Lightning, which `import
# seg_f1` (run before every compose) must not wait for. They return a ListConfig, not a list:
# OmegaConf 2.3's in-place resolve (Hydra's --cfg job --resolve) rejects a plain list.
def _classes(name: str) -> ListConfig:
    """``${seg_f1.labels:lapa}``: the class names of a label set in seg_f1.data.labels."""
    from seg_f1.data.labels import classes

    return OmegaConf.create(classes(name))


def _flip_pairs(name: str) -> ListConfig:
    """``${seg_f1.flip_pairs:lapa}``: its left/right pairs."""
    from seg_f1.data.labels import flip_pairs

    return OmegaConf.create(flip_pairs(name))


OmegaConf.register_new_resolver("seg_f1.or", _first_set, replace=True)
OmegaConf.register_new_resolver("seg_f1.labels", _classes, replace=True)
OmegaConf.register_new_resolver("seg_f1.flip_pairs", _flip_pairs, replace=True)
OmegaConf.register_new_resolver("seg_f1.root", default_root, replace=True)
