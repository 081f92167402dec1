"""The label sets of the supported datasets and the split names, each written down once.

The data configs take their ``classes`` and ``flip_pairs`` from here through resolvers that
``import seg_f1`` registers (``classes: ${seg_f1.labels:lapa}``), so a run's resolved config and
its checkpoints still hold the plain lists. ``l_*`` is the subject's left, the image's right.
"""

from __future__ import annotations

SPLITS = ("train", "val", "test")

# CelebAMask-HQ's official order; its part masks are painted in it, later parts winning where
# parts overlap. The synthetic faces are drawn in the same order.
CELEBAMASK_HQ_CLASSES = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear",
    "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip
CELEBAMASK_HQ_FLIP_PAIRS = (("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear"))

# LaPa's 11 classes; the relabelled Helen release uses the same ones
LAPA_CLASSES = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "u_lip",
                "inner_mouth", "l_lip", "hair")  # fmt: skip
LAPA_FLIP_PAIRS = (("l_brow", "r_brow"), ("l_eye", "r_eye"))

LABEL_SETS = {
    "celebamask_hq": (CELEBAMASK_HQ_CLASSES, CELEBAMASK_HQ_FLIP_PAIRS),
    "lapa": (LAPA_CLASSES, LAPA_FLIP_PAIRS),
    "helen": (LAPA_CLASSES, LAPA_FLIP_PAIRS),
}


def _label_set(name: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    if name not in LABEL_SETS:
        raise ValueError(f"unknown label set {name!r}; choose one of {', '.join(LABEL_SETS)}")
    return LABEL_SETS[name]


def classes(name: str) -> list[str]:
    """``${seg_f1.labels:<name>}``: the class names of a label set, in index order."""
    return list(_label_set(name)[0])


def flip_pairs(name: str) -> list[list[str]]:
    """``${seg_f1.flip_pairs:<name>}``: the left/right class pairs a horizontal flip swaps."""
    return [list(pair) for pair in _label_set(name)[1]]
