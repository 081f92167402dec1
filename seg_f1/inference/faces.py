"""Faces and their 5 landmarks, found offline by dlib: the HOG frontal detector (no model file)
or the CNN one (``mmod_human_face_detector.dat``), and ``shape_predictor_5_face_landmarks.dat``,
both shipped by ``face-recognition-models``. Its 68-point model is never used: its training
data forbids commercial use. Both packages come with the ``faces`` extra."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

EXTRA = 'pip install "seg_f1[faces]"'
DETECTORS = ("hog", "cnn")
DETECT_SIDE = 1280  # the detector sees the photo shrunk to this longest side


@dataclass(frozen=True)
class Face:
    """One face: its box (x0, y0, x1, y1) and 5 landmarks [5, 2] (x, y), photo pixels."""

    box: tuple[int, int, int, int]
    landmarks: np.ndarray


def model_file(name: str) -> Path:
    """A file of ``face-recognition-models``, found without importing it (its ``__init__`` needs
    ``pkg_resources``, which recent setuptools no longer ship)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"align=auto needs face-recognition-models: {EXTRA}")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from face-recognition-models; reinstall: {EXTRA}")
    return path


def import_dlib():
    try:
        import dlib
    except ImportError:
        raise ImportError(f"align=auto needs dlib (the dlib-bin wheel): {EXTRA}") from None
    return dlib


class FaceFinder:
    """Faces of a photo, largest first; ``upsample`` > 0 finds faces smaller than the detector's
    80 px window (at ``detect_side``), at a cost in time."""

    def __init__(self, detector: str = "hog", detect_side: int = DETECT_SIDE, upsample: int = 0):
        if detector not in DETECTORS:
            raise ValueError(f"detector={detector!r}: expected one of {DETECTORS}")
        dlib = import_dlib()
        self.dlib, self.detect_side, self.upsample = dlib, int(detect_side), int(upsample)
        self.predictor = dlib.shape_predictor(
            str(model_file("shape_predictor_5_face_landmarks.dat"))
        )
        if detector == "cnn":
            cnn = dlib.cnn_face_detection_model_v1(str(model_file("mmod_human_face_detector.dat")))
            self.detect = lambda image: [found.rect for found in cnn(image, self.upsample)]
        else:
            hog = dlib.get_frontal_face_detector()
            self.detect = lambda image: list(hog(image, self.upsample))

    def __call__(self, image: np.ndarray) -> list[Face]:
        scale = min(1.0, self.detect_side / max(image.shape[:2]))
        small = image
        if scale < 1.0:
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        image = np.ascontiguousarray(image)
        faces = []
        for rect in self.detect(np.ascontiguousarray(small)):
            box = [round(v / scale) for v in (rect.left(), rect.top(), rect.right(), rect.bottom())]
            shape = self.predictor(image, self.dlib.rectangle(*box))
            points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], np.float64)
            faces.append(Face(tuple(box), points))
        return sorted(faces, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def read_landmarks(path: str | Path) -> dict[str, np.ndarray]:
    """A ``landmarks=`` file: JSON ``{"<photo file name>": [[[x, y] x 5], ...faces]}``, for photos
    whose landmarks are known (or a detector that is not dlib); an error names a bad entry."""
    import json

    path = Path(path).expanduser()
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"landmarks={path}: not a readable JSON file ({error})") from None
    out = {}
    for name, faces in raw.items() if isinstance(raw, dict) else []:
        points = np.asarray(faces, np.float64)
        if points.ndim != 3 or points.shape[1:] != (5, 2):
            raise ValueError(f"landmarks={path}: {name!r} needs faces of 5 (x, y) points")
        out[name] = points
    if not isinstance(raw, dict):
        raise ValueError(f"landmarks={path}: expected an object mapping file names to faces")
    return out
