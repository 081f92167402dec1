"""A photo parsed at its own size by a model that sees squares of its training size: the torch
network or its ONNX export, chosen by ``backend``. Either the whole photo is squeezed into one
square (``align=none``), or each face is warped onto the model's framing from its 5 landmarks
and its parse warped back (``align=auto``); either way the mask is built in bands
(inference/alignment.py), never from full-size float maps of all classes. Everything here is
numpy: a model is any callable from a normalised float32 [B, 3, H, W] array to its logits
(``ArrayNetwork`` for a checkpoint, ``OnnxModel`` for an export), and ``backend=onnx`` never
loads torch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
from omegaconf import DictConfig

from seg_f1.inference.alignment import aligned_crop, face_transform, paste, scale_matrix
from seg_f1.inference.recipe import InputRecipe, normalised_batch

log = logging.getLogger(__name__)
CROPS_PER_PASS = 8


def predict_logits(
    model: Callable[[np.ndarray], np.ndarray], recipe: InputRecipe, images: Sequence[np.ndarray]
):
    """[C, H, W] logits per photo (torch tensors), each at the photo's own height and width: the
    whole photo squeezed and its logits of all classes upsampled, as predict once did; kept as
    the reference ``predict_masks`` is checked and measured against."""
    import torch
    import torch.nn.functional as F

    size = (recipe.image_size, recipe.image_size)
    small = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images]
    logits = torch.from_numpy(model(normalised_batch(small, recipe)))
    return [
        F.interpolate(one[None], size=image.shape[:2], mode="bilinear", align_corners=False)[0]
        for image, one in zip(images, logits, strict=True)
    ]


def predict_masks(
    model,
    recipe: InputRecipe,
    images: Sequence[np.ndarray],
    landmarks: Sequence[Sequence[np.ndarray] | None] | None = None,
    offsets: np.ndarray | None = None,
) -> list[np.ndarray]:
    """One uint8 index mask per photo, each at the photo's own height and width. ``model`` is
    called on a normalised float32 [B, 3, s, s] array and returns its logits as an array
    (``ArrayNetwork`` wraps a checkpoint's network, ``OnnxModel`` an export). ``landmarks``
    gives each photo's faces (5 points each, dlib's order): a photo with faces is parsed face by
    face, each pixel taking the most confident face, uncovered pixels background; a photo with
    ``None`` (or no ``landmarks`` at all) is squeezed whole into the model's square.
    ``offsets``: the F1 decision rule's per-class offsets (``seg_f1.inference.decoding``) added
    to the log-probabilities, None for argmax; the warp back is linear, so adding them before it
    (as ``exp(offsets)`` factors on probabilities) decides exactly as adding them after."""
    size = recipe.image_size
    landmarks = landmarks or [None] * len(images)
    jobs = []  # (photo index, photo -> crop matrix, is a face)
    for i, (image, faces) in enumerate(zip(images, landmarks, strict=True)):
        if faces is None or len(faces) == 0:
            jobs.append((i, scale_matrix(image.shape[:2], size), False))
        else:
            template = recipe.framing["template"]
            jobs.extend((i, face_transform(points, template, size), True) for points in faces)
    crops = [
        aligned_crop(images[i], matrix, size)
        if face
        else cv2.resize(images[i], (size, size), interpolation=cv2.INTER_AREA)
        for i, matrix, face in jobs
    ]
    masks = [np.zeros(image.shape[:2], np.uint8) for image in images]
    confidence = {i: np.zeros(images[i].shape[:2], np.float32) for i, _, face in jobs if face}
    logits = []  # at most CROPS_PER_PASS squares at a time: a crowd is not one huge batch
    for start in range(0, len(crops), CROPS_PER_PASS):
        batch = normalised_batch(crops[start : start + CROPS_PER_PASS], recipe)
        logits.extend(np.asarray(model(batch), np.float32))
    classes = len(logits[0]) if logits else 0
    shift = np.zeros(classes, np.float32) if offsets is None else np.asarray(offsets, np.float32)
    # each square's scores are changed in place and handed to paste as they are: no second
    # [C, s, s] copy per step
    for (i, matrix, face), scores in zip(jobs, logits, strict=True):
        scores = np.ascontiguousarray(scores)
        if face:
            probs = softmax(scores)
            probs *= np.exp(shift)[:, None, None]
            paste(probs, matrix, masks[i], confidence[i])
        else:  # logits, as upsampling the whole photo's logits then argmax gave
            scores += shift[:, None, None]
            paste(scores, matrix, masks[i], edge="replicate")
    return masks


def softmax(scores: np.ndarray, axis: int = 0) -> np.ndarray:
    """Probabilities along ``axis``, computed in place of ``scores`` (float32 logits)."""
    np.subtract(scores, scores.max(axis, keepdims=True), out=scores)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis, keepdims=True)
    return scores


def load_backend(cfg: DictConfig) -> tuple[Any, InputRecipe]:
    """``backend=torch``: the checkpoint ``ckpt_path``; ``backend=onnx``: the export
    ``onnx_model`` (not ``model``: that name is the training config's model group)."""
    if cfg.backend == "torch":
        if not cfg.get("ckpt_path"):
            raise ValueError("backend=torch needs ckpt_path=<checkpoint>")
        from seg_f1.inference.model import ArrayNetwork, load_model

        network, recipe = load_model(cfg.ckpt_path)
        return ArrayNetwork(network), recipe
    if cfg.backend == "onnx":
        if not cfg.get("onnx_model"):
            raise ValueError(
                "backend=onnx needs onnx_model=<file.onnx> (from python -m seg_f1.export)"
            )
        from seg_f1.inference.onnx_model import OnnxModel

        model = OnnxModel(cfg.onnx_model)
        return model, model.recipe
    raise ValueError(f"backend={cfg.backend}: expected torch or onnx")


ALIGN_MODES, NO_FACE = ("auto", "none"), ("full", "skip")


class Aligner:
    """Per photo, what ``predict_masks`` parses: its faces' landmarks (``align=auto``: from the
    ``landmarks`` file when it names the photo, else dlib), ``None`` for the whole photo
    (``align=none``, or no face found with ``on_no_face=full``), or ``SKIP``. A photo with no face
    is always said, by name: never a silent empty mask."""

    SKIP = "skip"

    def __init__(self, cfg: DictConfig) -> None:
        self.mode = cfg.get("align", "none")
        self.on_no_face = cfg.get("on_no_face", "full")
        if self.mode not in ALIGN_MODES:
            raise ValueError(f"align={self.mode!r}: expected one of {ALIGN_MODES}")
        if self.on_no_face not in NO_FACE:
            raise ValueError(f"on_no_face={self.on_no_face!r}: expected one of {NO_FACE}")
        self.finder, self.known, self.no_face = None, {}, []
        self.faces = self.photos_with_faces = 0
        if self.mode == "auto":
            from seg_f1.inference.faces import FaceFinder, read_landmarks

            if cfg.get("landmarks"):
                self.known = read_landmarks(cfg.landmarks)
            self.finder = FaceFinder(
                cfg.get("detector", "hog"), cfg.get("detect_side", 1280), cfg.get("upsample", 0)
            )

    def __call__(self, path, image: np.ndarray):
        """(landmarks per face or None or SKIP, the detected faces for an overlay)."""
        if self.mode == "none":
            return None, []
        given = self.known.get(str(path), self.known.get(getattr(path, "name", str(path))))
        faces = [] if given is not None else self.finder(image)
        points = list(given) if given is not None else [face.landmarks for face in faces]
        if points:
            self.faces += len(points)
            self.photos_with_faces += 1
            return points, faces
        self.no_face.append(path)
        what = "parsed whole (on_no_face=full)" if self.on_no_face == "full" else "skipped"
        log.warning("%s: no face found, %s", path, what)
        return (None if self.on_no_face == "full" else self.SKIP), []
