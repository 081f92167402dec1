"""seg_f1: face-parsing segmentation trained on differentiable losses, judged by F1."""

from pathlib import Path

from omegaconf import OmegaConf

# the Hydra config tree every tool composes
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def _first_set(value, default):
    """``${seg_f1.or:${resume},outputs/...}``: the run directory is the resumed one if given."""
    return default if value in (None, "") else value


OmegaConf.register_new_resolver("seg_f1.or", _first_set, replace=True)
