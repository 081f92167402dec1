"""seg_f1: face-parsing segmentation trained on differentiable losses, judged by F1."""

from pathlib import Path

from omegaconf import ListConfig, OmegaConf

# the Hydra config tree every tool composes
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


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
