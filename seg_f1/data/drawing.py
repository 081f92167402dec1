"""A procedural face-parsing set in the CelebAMask-HQ label order, so everything runs offline.

Each face is drawn as shapes in a face-local frame (``u`` across, ``v`` down, the face ellipse is
``u**2 + v**2 < 1``), which makes roll, yaw, scale and position one coordinate transform. The mask
is painted first, back to front, and the photo is rendered from it: per-part colours, texture,
directional light, noise and blur. The small parts (eyes, brows, lips, earrings) stay small and low
in contrast, as in the real data, so the losses have something to disagree about.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES, SPLITS

LABEL = {name: index for index, name in enumerate(CELEBAMASK_HQ_CLASSES)}
GENERATOR_VERSION = 5  # bump when drawing changes, so old caches are not reused

Shape = np.ndarray  # boolean mask, H x W


@dataclass(frozen=True)
class FaceGrid:
    """Pixel coordinates of one image, in the image frame and in the face-local frame."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    def ellipse(self, u0: float, v0: float, ru: float, rv: float) -> Shape:
        return ((self.u - u0) / ru) ** 2 + ((self.v - v0) / rv) ** 2 < 1.0


def _face_grid(size: int, cx: float, cy: float, a: float, b: float, roll: float) -> FaceGrid:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = x - cx, y - cy
    cos, sin = np.cos(roll), np.sin(roll)
    u = (cos * dx + sin * dy) / a
    v = (-sin * dx + cos * dy) / b
    return FaceGrid(x=x, y=y, u=u, v=v)


def draw_mask(rng: np.random.Generator, size: int, landmarks: list | None = None) -> np.ndarray:
    """One face's index mask; parts are painted back to front, so later parts win. A
    ``landmarks`` list receives the face's 5 points in dlib's order (see ``face_points``), which
    the alignment tests take as ground truth; the draws from ``rng`` are the same either way."""
    a = size * rng.uniform(0.28, 0.34)
    b = a * rng.uniform(1.2, 1.38)
    cx = size * rng.uniform(0.42, 0.58)
    cy = size * rng.uniform(0.44, 0.54)
    roll = np.deg2rad(np.clip(rng.normal(0.0, 8.0), -20.0, 20.0))
    yaw = rng.uniform(-0.25, 0.25)  # shifts the inner features sideways
    g = _face_grid(size, cx, cy, a, b, roll)
    mask = np.zeros((size, size), np.uint8)

    def paint(name: str, shape: Shape) -> None:
        mask[shape] = LABEL[name]

    long_hair = rng.random() < 0.5
    if long_hair:
        paint("hair", g.ellipse(0.0, 0.35, rng.uniform(1.3, 1.6), rng.uniform(1.45, 1.9)))
    paint("neck", (np.abs(g.u) < rng.uniform(0.5, 0.65)) & (g.v > 0.4))
    neckline = cy + b * (1.3 - 0.5 * np.minimum(1.0, np.abs(g.x - cx) / (2.0 * a)))
    paint("cloth", g.y > neckline + b * rng.uniform(-0.1, 0.15))
    if rng.random() < 0.09:
        chain_v = rng.uniform(1.05, 1.35)
        ring = g.ellipse(0.0, chain_v - 0.55, 0.62, 0.55) & ~g.ellipse(
            0.0, chain_v - 0.55, 0.41, 0.35
        )
        paint("neck_l", ring & (g.v > chain_v - 0.3))
    earrings = _paint_ears(paint, g, rng, yaw)
    paint("skin", g.ellipse(0.0, 0.0, 1.0, 1.0))
    du = yaw * 0.35
    nose_v = _paint_nose(paint, g, rng, du)
    eye_v = rng.uniform(-0.18, -0.06)
    if rng.random() < 0.08:
        frame = np.zeros(g.u.shape, bool)
        for side in (-1, 1):
            outer = g.ellipse(side * 0.4 + du, eye_v, 0.3, 0.2)
            frame |= outer & ~g.ellipse(side * 0.4 + du, eye_v, 0.22, 0.13)
        frame |= (np.abs(g.u - du) < 0.11) & (np.abs(g.v - eye_v + 0.03) < 0.025)
        paint("eye_g", frame)
    eyes = _paint_eyes_and_brows(paint, g, rng, du, eye_v, yaw)
    if landmarks is not None:
        landmarks.extend(face_points((cx, cy, a, b, roll), eyes, eye_v, (du * 1.4, nose_v)))
    _paint_mouth(paint, g, rng, du)
    _paint_hair(paint, g, rng)
    paint("ear_r", earrings)  # after skin and hair, as in the official merge order
    if rng.random() < 0.07:
        crown = g.ellipse(0.0, -1.05, rng.uniform(1.1, 1.3), rng.uniform(0.45, 0.6))
        brim = (np.abs(g.v + 0.72) < 0.07) & (np.abs(g.u) < 1.35)
        paint("hat", crown | brim)
    return mask


def _paint_ears(paint: Callable, g: FaceGrid, rng: np.random.Generator, yaw: float) -> Shape:
    """The subject's left ear is on the image's right (+u); a strong yaw hides the far ear.
    Returns the earrings, which are painted last."""
    earrings = np.zeros(g.u.shape, bool)
    for name, side in (("l_ear", 1), ("r_ear", -1)):
        if side * yaw > 0.18 and rng.random() < 0.7:
            continue
        ear_u = side * (0.97 - side * yaw * 0.2)
        paint(name, g.ellipse(ear_u, 0.02, rng.uniform(0.13, 0.18), rng.uniform(0.22, 0.3)))
        if rng.random() < 0.17:
            earrings |= g.ellipse(ear_u + side * 0.05, 0.33, 0.11, 0.1)
    return earrings


def face_points(frame, eyes, eye_v: float, nose) -> list[tuple[float, float]]:
    """dlib's 5-point order in pixel coordinates (pixel centres at integers): the image-right
    eye's outer and inner corner, the image-left eye's outer and inner corner, the nose's base.
    ``frame`` is the face frame (cx, cy, a, b, roll), ``eyes`` (centre u, half width) per side."""
    cx, cy, a, b, roll = frame
    cos, sin = np.cos(roll), np.sin(roll)

    def xy(u: float, v: float) -> tuple[float, float]:
        return (cx + a * u * cos - b * v * sin - 0.5, cy + a * u * sin + b * v * cos - 0.5)

    (right, right_half), (left, left_half) = eyes  # +u is the image's right when roll is 0
    corners = [right + right_half, right - right_half, left - left_half, left + left_half]
    return [xy(u, eye_v) for u in corners] + [xy(*nose)]


def _paint_nose(paint: Callable, g: FaceGrid, rng: np.random.Generator, du: float) -> float:
    top, bottom = rng.uniform(-0.15, -0.05), rng.uniform(0.25, 0.35)
    depth = (g.v - top) / (bottom - top)
    half_width = 0.06 + rng.uniform(0.1, 0.15) * depth
    paint("nose", (depth > 0) & (depth < 1) & (np.abs(g.u - du * (1 + 0.4 * depth)) < half_width))
    return bottom


def _paint_eyes_and_brows(
    paint: Callable, g: FaceGrid, rng: np.random.Generator, du: float, eye_v: float, yaw: float
) -> list[tuple[float, float]]:
    spacing = rng.uniform(0.34, 0.42)
    openness = 1.0 if rng.random() > 0.1 else rng.uniform(0.3, 0.6)
    eye_ru, eye_rv = rng.uniform(0.13, 0.17), rng.uniform(0.06, 0.085) * openness
    brow_v = eye_v - rng.uniform(0.16, 0.22)
    brow_rv = rng.uniform(0.035, 0.055)
    arch = rng.uniform(0.0, 0.12)
    eyes = []
    for side, eye, brow in ((1, "l_eye", "l_brow"), (-1, "r_eye", "r_brow")):
        foreshorten = 1.0 - max(0.0, -side * yaw) * 0.8  # the far side looks narrower
        centre = side * spacing + du
        paint(eye, g.ellipse(centre, eye_v, eye_ru * foreshorten, eye_rv))
        curve = brow_v + arch * ((g.u - centre) / 0.22) ** 2
        band = (np.abs(g.v - curve) < brow_rv) & (np.abs(g.u - centre) < 0.22 * foreshorten)
        paint(brow, band)
        eyes.append((centre, eye_ru * foreshorten))
    return eyes


def _paint_mouth(paint: Callable, g: FaceGrid, rng: np.random.Generator, du: float) -> None:
    mouth_u, mouth_v = du * 0.8, rng.uniform(0.5, 0.6)
    width = rng.uniform(0.24, 0.33)
    gap = rng.uniform(0.02, 0.08) if rng.random() < 0.4 else 0.0
    upper = g.ellipse(mouth_u, mouth_v, width, rng.uniform(0.06, 0.09)) & (g.v < mouth_v)
    lower = g.ellipse(mouth_u, mouth_v + gap, width * 0.92, rng.uniform(0.08, 0.12))
    paint("u_lip", upper)
    paint("l_lip", lower & (g.v > mouth_v + gap))
    if gap > 0:
        paint("mouth", g.ellipse(mouth_u, mouth_v + gap / 2, width * 0.8, gap / 2 + 0.01))


def _paint_hair(paint: Callable, g: FaceGrid, rng: np.random.Generator) -> None:
    """Hair caps the head above a curved hairline and frames the temples."""
    cap = g.ellipse(0.0, -0.12, rng.uniform(1.1, 1.25), rng.uniform(1.02, 1.12))
    fringe = rng.uniform(-0.7, -0.4)
    hairline = fringe + rng.uniform(0.2, 0.45) * g.u**2
    outside_face = ~g.ellipse(0.0, 0.0, 1.0, 1.0)
    paint("hair", cap & ((g.v < hairline) | (outside_face & (g.v < 0.05))))


# Base colours (RGB) for rendering; per-image jitter is added on top.
_HAIR_COLOURS = np.array([[25, 20, 18], [70, 45, 30], [120, 85, 50], [200, 170, 110],
                          [150, 60, 30], [160, 160, 160]], np.float32)  # fmt: skip
_SKIN_COLOURS = np.array([[235, 200, 175], [210, 165, 130], [170, 120, 90], [110, 75, 55]],
                         np.float32)  # fmt: skip


def render_image(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A photo-like RGB image whose parts follow ``mask``: colour, texture, light, noise, blur."""
    import cv2

    size = mask.shape[0]
    skin = _SKIN_COLOURS[rng.integers(len(_SKIN_COLOURS))] + rng.normal(0, 12, 3)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] + rng.normal(0, 10, 3)
    lips = np.array([180, 80, 90]) * rng.uniform(0.7, 1.1) + rng.normal(0, 10, 3)
    metal = np.array([[212, 175, 55], [192, 192, 200]])[rng.integers(2)]
    colours = {
        "skin": skin,
        "nose": skin * rng.uniform(0.9, 0.97),
        "eye_g": rng.uniform(0, 90, 3),
        "l_eye": np.array([70, 60, 55]) + rng.normal(0, 15, 3),
        "r_eye": np.array([70, 60, 55]) + rng.normal(0, 15, 3),
        "l_brow": hair * 0.8 + skin * 0.2,
        "r_brow": hair * 0.8 + skin * 0.2,
        "l_ear": skin * rng.uniform(0.88, 0.97),
        "r_ear": skin * rng.uniform(0.88, 0.97),
        "mouth": np.array([60, 20, 25]) + rng.normal(0, 8, 3),
        "u_lip": lips * rng.uniform(0.85, 0.95),
        "l_lip": lips,
        "hair": hair,
        "hat": rng.uniform(20, 235, 3),
        "ear_r": metal,
        "neck_l": metal * rng.uniform(0.8, 1.0),
        "neck": skin * rng.uniform(0.75, 0.9),
        "cloth": rng.uniform(10, 245, 3),
    }
    low_res = rng.uniform(30, 230, (4, 4, 3)).astype(np.float32)
    image = cv2.resize(low_res, (size, size), interpolation=cv2.INTER_CUBIC)
    texture = cv2.resize(rng.normal(0, 1, (size // 4, size // 4)).astype(np.float32), (size, size))
    for name, colour in colours.items():
        image[mask == LABEL[name]] = np.clip(colour, 0, 255)
    strands = mask == LABEL["hair"]
    image[strands] += (texture[strands] * rng.uniform(5, 20))[:, None]
    ys, xs = np.mgrid[0:size, 0:size] / size - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + rng.uniform(0.1, 0.35) * (np.cos(angle) * xs + np.sin(angle) * ys) * 2
    image *= light[..., None].astype(np.float32)
    image += rng.normal(0, rng.uniform(3, 12), image.shape).astype(np.float32)
    sigma = rng.uniform(0.3, 1.1)
    image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_sample(seed: int, split: str, index: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The (image, mask) pair for one index: a pure function of its arguments."""
    image, mask, _ = sample_with_landmarks(seed, split, index, size)
    return image, mask


def sample_with_landmarks(
    seed: int, split: str, index: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``make_sample``'s pair and the face's 5 landmarks, float [5, 2] (x, y) in dlib's order."""
    rng = np.random.default_rng([seed, SPLITS.index(split), index])
    points: list = []
    mask = draw_mask(rng, size, points)
    return render_image(mask, rng), mask, np.asarray(points, np.float32)
