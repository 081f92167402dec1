"""Face parsing of any photo or folder of photos, at the photo's own size.

``python -m seg_f1.predict ckpt_path=<ckpt> input=<image|folder> output=<folder> [overlay=true]``
writes ``<name>_mask.png`` (class indices) and ``<name>_overlay.png`` per image, keeping the
input folder's sub-folders, and ``legend.png`` with the overlays' class colours. An animated
GIF/WebP/PNG or a multi-page TIFF gives ``<name>_frame<k>_mask.png`` per frame (``frames=all``,
the default) or its first frame alone (``frames=first``). With ``backend=onnx
onnx_model=<file.onnx>`` an export of ``seg_f1.export`` runs through onnxruntime: no checkpoint
is needed and torch is never imported (about 5 s less start-up on 2 cores). A file that cannot
be read safely (over ``max_pixels``, unreadable, an unknown container) is skipped with a warning
that names it and counted in the summary; ``strict=true`` makes it an error. A non-empty output
folder is refused unless ``overwrite=true``; one inside the input is not read.

``align=auto`` (the default; needs ``pip install "seg_f1[faces]"``) finds each face with dlib,
warps it onto the framing the model was trained on, and warps its parse back into the photo;
``align=none`` squeezes the whole photo into the model's square (docs/predict.md).
``decode=f1`` draws the masks with the model's per-class decision offsets tuned for F1
(``seg_f1.calibrate``) instead of argmax.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.progress import track

from seg_f1 import CONF_DIR, counted
from seg_f1.data.images import FRAMES, MAX_PIXELS
from seg_f1.inference.memory import return_freed_memory
from seg_f1.inference.parse import Aligner, load_backend, predict_masks
from seg_f1.inference.photos import (
    INPUT_SUFFIXES,
    OUTPUT_LOCK,
    OVERLAY_COMPRESSION,
    Skips,
    batches,
    check_output,
    input_files,
    listed,
    readable,
    save_png,
)
from seg_f1.inference.rules import chosen_offsets
from seg_f1.report.palette import draw_faces, legend_picture, overlay, with_legend
from seg_f1.runs.directory import announced, held, hydra_run_dir

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> list[Path]:
    """Parse every readable image; returns the mask files written."""
    if cfg.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {cfg.batch_size}")
    if cfg.get("frames", "all") not in FRAMES:
        raise ValueError(f"frames={cfg.frames!r}: expected one of {FRAMES}")
    output = Path(cfg.output).expanduser()
    files, base, others = input_files(Path(cfg.input).expanduser(), output)
    if output.exists() and not output.is_dir():
        check_output(output, cfg.overwrite)  # a file: named before a folder is made
    hint = "wait for it to finish, or give this one its own output="
    with held(output, OUTPUT_LOCK, "predict", hint, remove=True):
        check_output(output, cfg.overwrite)
        return _predict(cfg, output, files, base, others)


def _predict(cfg: DictConfig, output: Path, files, base, others) -> list[Path]:
    """``run`` with the output folder held."""
    return_freed_memory()  # a 12 MP photo's parse in ~1 GB: activations freed are given back
    model, recipe = load_backend(cfg)
    source = cfg.ckpt_path if cfg.backend == "torch" else cfg.onnx_model
    offsets = chosen_offsets(cfg.get("decode", "argmax"), model.decision_offsets, source)
    aligner = Aligner(cfg)
    log.info("%s", what_predict_does(model, recipe, aligner, offsets))
    done, skips = Progress(), Skips(cfg.get("strict", False))
    frames = readable(files, skips, cfg.get("max_pixels", MAX_PIXELS), cfg.get("frames", "all"))
    total = -(-len(files) // cfg.batch_size)
    try:
        for batch in track(
            batches(frames, cfg.batch_size), total=total, description="predicting",
            disable=not cfg.progress,
        ):  # fmt: skip
            parse_batch(cfg, model, recipe, aligner, offsets, batch, output, base, done)
    except OSError as error:  # a full disk, a folder gone read-only: say what is left undone
        failed = len(done.failed)
        never = len(files) - len(done.parsed | done.failed) - len(skips.files)
        log.error("predict stopped: wrote %s for %d of %s; %d failed (%s); %d never processed",
                  counted(len(done.written), "mask"), len(done.parsed),
                  counted(len(files), "image file"), failed, error, max(never, 0))  # fmt: skip
        raise
    written, parsed = done.written, done.parsed
    if cfg.overlay:
        save_png(legend_picture(model.class_names), output / "legend.png")
    log.info("wrote %s for %d of %s to %s%s", counted(len(written), "mask"), len(parsed),
             counted(len(files), "image file"), output,
             f"; {skips.summary()}" if skips.files else "")  # fmt: skip
    if aligner.mode == "auto":
        log.info("faces: %d found in %d of %s", aligner.faces, aligner.photos_with_faces,
                 counted(len(files), "image file"))  # fmt: skip
    if aligner.no_face:
        what = "parsed whole" if aligner.on_no_face == "full" else "skipped"
        log.info("no face found in %s (%s): %s", counted(len(aligner.no_face), "image"), what,
                 listed(aligner.no_face))  # fmt: skip
    if others:
        suffixes = ", ".join(INPUT_SUFFIXES)
        log.info("left %s with no image suffix (%s): %s",
                 counted(len(others), "file"), suffixes, listed(others))  # fmt: skip
    return written


def what_predict_does(model, recipe, aligner: Aligner, offsets) -> str:
    """One line a user reads before the first photo: the classes, the framing each face is
    aligned to (and that it is the checkpoint's own), and the decision rule."""
    framing = recipe.framing.get("name", "?")
    faces = (
        f"each face found and aligned to the checkpoint's framing ({framing})"
        if aligner.mode == "auto"
        else "each photo parsed whole (align=none)"
    )
    if offsets is None:
        rule = "argmax"
    else:
        shifted = [
            f"{n} {v:+.2f}" for n, v in zip(model.class_names, offsets.tolist(), strict=True)
        ]
        rule = "decode=f1 offsets (" + ", ".join(shifted) + ")"
    count = len(model.class_names)
    classes = f"{count} class" + ("" if count == 1 else "es")
    return f"parsing {classes} at {recipe.image_size} px; {faces}; decision rule: {rule}"


@dataclass
class Progress:
    """What predict has done so far: masks written, photos parsed, the photo being written."""

    written: list[Path] = field(default_factory=list)
    parsed: set[Path] = field(default_factory=set)
    failed: set[Path] = field(default_factory=set)
    names: set[Path] = field(default_factory=set)


def parse_batch(cfg, model, recipe, aligner, offsets, batch, output, base, done: Progress) -> None:
    """Parse one batch of photos and write each one's mask (and overlay)."""
    found = [aligner(path, image) for path, _, image in batch]
    batch = [item for item, (points, _) in zip(batch, found, strict=True)
             if points is not Aligner.SKIP]  # fmt: skip
    kept = [(points, boxes) for points, boxes in found if points is not Aligner.SKIP]
    masks = predict_masks(
        model, recipe, [image for _, _, image in batch], [points for points, _ in kept], offsets
    )
    for (path, frame, image), mask, (_, boxes) in zip(batch, masks, kept, strict=True):
        stem = output / path.relative_to(base).with_suffix("")
        name = stem.with_name(stem.name + frame + "_mask.png")
        if name in done.names:
            raise ValueError(f"{path} would write {name} a second time; rename the file")
        try:
            save_png(mask, name)
            if cfg.overlay:
                # the photo is not needed once its overlay is drawn: blended into it, no copy
                picture = draw_faces(overlay(image, mask, model.class_names, in_place=True), boxes)
                save_png(
                    with_legend(picture, mask, model.class_names),
                    stem.with_name(stem.name + frame + "_overlay.png"),
                    OVERLAY_COMPRESSION,
                )
        except OSError:
            done.failed.add(path)
            raise
        done.written.append(name)
        done.names.add(name)
        done.parsed.add(path)


@hydra.main(config_path=str(CONF_DIR), config_name="predict", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with announced("predict", hydra_run_dir()):
        run(cfg)


if __name__ == "__main__":
    main()
