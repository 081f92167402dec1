"""What alignment buys: F1 of a checkpoint on synthetic test faces placed small and turned in a
larger photo, parsed with ``align=none`` (the whole photo squeezed) and with ``align=auto`` (the
generator's own landmarks standing in for the detector, which does not see drawn faces), scored
against the placed masks at the photo's size; and the figure of docs/predict.md.

    python benchmarks/bench_alignment.py ckpt_path=<synthetic-trained ckpt> [--faces 30]
        [--figure docs/img/predict_alignment.png]

The figure: the astronaut (a real photo) turned in a larger photo with dlib's box and 5
landmarks, its aligned crop in the CelebA-HQ framing; then a placed synthetic face, its aligned
crop, and the checkpoint's parse warped back into the photo.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seg_f1.data.drawing import sample_with_landmarks  # noqa: E402
from seg_f1.data.framing import CELEBA_HQ  # noqa: E402
from seg_f1.inference.alignment import aligned_crop, face_transform  # noqa: E402
from seg_f1.inference.model import ArrayNetwork, load_model  # noqa: E402
from seg_f1.inference.parse import predict_masks  # noqa: E402
from seg_f1.metrics import ConfusionMatrix, f1_from_confusion  # noqa: E402
from seg_f1.report.palette import draw_faces, overlay  # noqa: E402


def placed(index: int, size: int, canvas: tuple[int, int], rng):
    """A synthetic test face at a random scale (0.25-0.45 of the photo's height), turn (up to
    30 degrees) and place, on a noisy backdrop: photo, mask, landmarks."""
    image, mask, points = sample_with_landmarks(0, "test", index, size)
    scale = canvas[1] * rng.uniform(0.25, 0.45) / size
    place = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-30, 30), scale)
    place[:, 2] += (
        rng.uniform(0.2, 0.8) * canvas[0] - size / 2,
        rng.uniform(0.25, 0.75) * canvas[1] - size / 2,
    )
    backdrop = cv2.resize(
        rng.integers(40, 220, (canvas[1] // 16, canvas[0] // 16, 3), dtype=np.uint8), canvas
    )
    photo = cv2.warpAffine(image, place, canvas, flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones((size, size), np.uint8), place, canvas) > 0
    photo[~inside] = backdrop[~inside]
    truth = cv2.warpAffine(mask, place, canvas, flags=cv2.INTER_NEAREST)
    return photo, truth, points @ place[:, :2].T + place[:, 2]


def figure(model, recipe, path: Path) -> None:
    from skimage import data

    from seg_f1.inference.faces import FaceFinder

    turn = cv2.getRotationMatrix2D((256, 256), 12, 0.8)
    turn[:, 2] += (200, 120)
    photo = cv2.warpAffine(data.astronaut(), turn, (800, 600), borderValue=(90, 90, 90))
    faces = FaceFinder(upsample=1)(photo)[:1]
    crop = aligned_crop(photo, face_transform(faces[0].landmarks, CELEBA_HQ, 256), 256)
    rng = np.random.default_rng(7)
    synthetic, _, points = placed(3, 128, (800, 600), rng)
    template = recipe.framing["template"]
    synthetic_crop = aligned_crop(synthetic, face_transform(points, template, 256), 256)
    (mask,) = predict_masks(model, recipe, [synthetic], [[points]])
    from types import SimpleNamespace

    shown = draw_faces(overlay(synthetic, mask, model.class_names),
                       [SimpleNamespace(box=(0, 0, 0, 0), landmarks=points)])  # fmt: skip
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    panels = [(draw_faces(photo, faces), "photo: dlib's box and 5 landmarks"),
              (crop, "aligned to the CelebA-HQ framing"),
              (synthetic_crop, "a synthetic face, aligned to its framing"),
              (shown, "its parse warped back into the photo")]  # fmt: skip
    for ax, (image, title) in zip(axes, panels, strict=True):
        ax.imshow(image)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ckpt_path")
    parser.add_argument("--faces", type=int, default=30)
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    network, recipe = load_model(args.ckpt_path.removeprefix("ckpt_path="))
    model = ArrayNetwork(network)
    rng = np.random.default_rng(0)
    totals = {mode: ConfusionMatrix(len(model.class_names)) for mode in ("none", "auto")}
    for index in range(args.faces):
        photo, truth, points = placed(index, 128, (512, 384), rng)
        for mode, faces in (("none", None), ("auto", [points])):
            (mask,) = predict_masks(model, recipe, [photo], [faces])
            totals[mode].update(torch.from_numpy(mask).long()[None], torch.from_numpy(truth)[None])
    print(f"{args.faces} synthetic test faces, 0.25-0.45 of a 512x384 photo's height, "
          "turned up to 30 degrees")  # fmt: skip
    for mode, total in totals.items():
        print(f"align={mode}: mean F1 {f1_from_confusion(total.compute())[1]:.3f}")
    if args.figure:
        figure(model, recipe, args.figure)
        print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
