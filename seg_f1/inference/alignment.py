"""A face warped onto the model's framing and its parse warped back, in bounded memory.

Coordinates are pixel indices (a pixel's centre is an integer), as dlib and OpenCV use them. A
transform is a 2x3 matrix from photo pixels to crop pixels. Going back, only the crop's footprint
in the photo is visited, in bands of at most ``BAND_PIXELS`` pixels, one class at a time: no
full-size float map of all classes is ever held (a 12 MP photo with 19 classes would need 900 MB).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

BAND_PIXELS = 1 << 21  # pixels per band of the warp back: about 8 MB per float map


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares rotation, uniform scale and shift taking ``source`` points onto
    ``target`` points (Umeyama's closed form, no reflection), as a 2x3 matrix."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    s_mean, t_mean = source.mean(0), target.mean(0)
    s, t = source - s_mean, target - t_mean
    norm = (s**2).sum()
    if norm < 1e-12:
        raise ValueError("landmarks coincide: no transform fits them")
    a = (s * t).sum() / norm
    b = (s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0]).sum() / norm
    rotation = np.array([[a, -b], [b, a]])
    return np.hstack([rotation, (t_mean - rotation @ s_mean)[:, None]])


def template_pixels(template: Sequence[Sequence[float]], size: int) -> np.ndarray:
    """A template's fractions of the side as pixel indices of a ``size`` square."""
    return np.asarray(template, np.float64) * size - 0.5


def face_transform(landmarks: np.ndarray, template, size: int) -> np.ndarray:
    """Photo -> crop: the photo's 5 landmarks onto the template in a ``size`` square."""
    return similarity(landmarks, template_pixels(template, size))


def invert(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(matrix, np.float64))


def footprint(matrix: np.ndarray, size: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), the photo's pixels that the ``size`` crop covers, clipped to ``shape``."""
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5] * 2])
    back = corners @ invert(matrix)[:, :2].T + invert(matrix)[:, 2]
    x0, y0 = np.floor(back.min(0)).astype(int) - 1
    x1, y1 = np.ceil(back.max(0)).astype(int) + 2
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def shifted(matrix: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``matrix`` applied to pixels of a sub-image whose origin is (dx, dy) in the photo."""
    out = np.array(matrix, np.float64)
    out[:, 2] += out[:, :2] @ np.array([dx, dy])
    return out


def aligned_crop(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` square the matrix maps the photo onto. A face larger than the crop is first
    shrunk by area averaging (a plain warp would alias), and only its footprint is read."""
    x0, y0, x1, y1 = footprint(matrix, size, image.shape[:2])
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the face's crop lies outside the photo")
    region, matrix = image[y0:y1, x0:x1], shifted(matrix, x0, y0)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.9:
        width = max(1, round(region.shape[1] * scale))
        height = max(1, round(region.shape[0] * scale))
        fx, fy = width / region.shape[1], height / region.shape[0]
        region = cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA)
        # small pixel j covers region pixels around (j + 0.5) / f - 0.5
        unshrink = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5]])
        matrix = matrix @ np.vstack([unshrink, [0, 0, 1]])
    return cv2.warpAffine(
        region, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def scale_matrix(shape: tuple[int, int], size: int) -> np.ndarray:
    """Photo -> a ``size`` square squeezed from the whole photo (half-pixel centres, as
    ``F.interpolate(align_corners=False)`` and ``cv2.resize`` sample)."""
    fy, fx = size / shape[0], size / shape[1]
    return np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]])


def paste(
    scores: np.ndarray,
    matrix: np.ndarray,
    mask: np.ndarray,
    confidence: np.ndarray | None = None,
    edge: str = "zero",
) -> None:
    """Writes into ``mask`` (uint8, the photo's size) the class whose ``scores`` ([C, s, s],
    probabilities or logits of the crop that ``matrix`` maps the photo onto) are highest, warped
    back bilinearly. With ``confidence`` (the best probability so far per pixel, float32), a pixel
    takes this face's class only where this face is more confident, and ``confidence`` is raised;
    without it every pixel of the footprint is written. ``edge``: ``zero`` (scores vanish outside
    the crop, for faces) or ``replicate`` (the nearest crop pixel, for the whole photo)."""
    size = scores.shape[-1]
    height, width = mask.shape
    x0, y0, x1, y1 = (
        (0, 0, width, height) if edge == "replicate" else footprint(matrix, size, mask.shape)
    )
    border = cv2.BORDER_REPLICATE if edge == "replicate" else cv2.BORDER_CONSTANT
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    rows = max(1, BAND_PIXELS // max(1, x1 - x0))
    for top in range(y0, y1, rows):
        bottom = min(top + rows, y1)
        band = shifted(matrix, x0, top)
        shape = (x1 - x0, bottom - top)
        best = np.full(shape[::-1], -np.inf, np.float32)
        label = np.zeros(shape[::-1], np.uint8)
        better = np.empty(shape[::-1], bool)
        for c, channel in enumerate(scores):
            warped = cv2.warpAffine(channel, band, shape, flags=flags, borderMode=border)
            np.greater(warped, best, out=better)
            label[better] = c
            np.maximum(best, warped, out=best)
        if confidence is None:
            mask[top:bottom, x0:x1] = label
            continue
        held = confidence[top:bottom, x0:x1]
        np.greater(best, held, out=better)
        mask[top:bottom, x0:x1][better] = label[better]
        np.maximum(held, best, out=held)
