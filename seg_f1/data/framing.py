"""Where a dataset's faces sit in its square images: the framing a model learns, stored with it
(checkpoint key ``framing``, ONNX metadata ``framing``/``face_template``) so that inference can
warp any photo's face onto it.

A template is dlib's 5 landmarks (``shape_predictor_5_face_landmarks.dat``: the image-right
eye's outer and inner corner, the image-left eye's outer and inner corner, the base of the nose)
as fractions of the square's side, x right and y down, the square spanning [0, 1].

CelebA-HQ (and so CelebAMask-HQ) was cropped by the Progressive GAN dataset tool from CelebA's
eye and mouth-corner landmarks: centre = eye midpoint + 0.1 x (eye midpoint -> mouth midpoint),
side = 2 x max(2.0 x eye distance, 1.8 x eye-to-mouth distance), rotated so the eyes are level.
dlib's 5 points have no mouth, so the template fills in average proportions: CelebA's mean
landmarks give eye-to-mouth = 1.04 x eye distance (below 2.0 / 1.8 = 1.11, so the eye term sets
the side: 4 eye distances), adult eye corners lie at 0.26 (inner) and 0.74 (outer) of the eye
distance from the face's midline, and the nose base at 0.67 of the way from the eyes to the
mouth. docs/predict.md reports how close this comes to the crop of a real photo.
"""

from __future__ import annotations

from collections.abc import Mapping

EYE_Y = 0.5 - 0.1 * 1.04 / 4  # the eye line, above the crop centre by 0.1 eye-to-mouth
NOSE_Y = EYE_Y + 0.67 * 1.04 / 4
CELEBA_HQ = (
    (0.5 + 0.74 / 4, EYE_Y),
    (0.5 + 0.26 / 4, EYE_Y),
    (0.5 - 0.74 / 4, EYE_Y),
    (0.5 - 0.26 / 4, EYE_Y),
    (0.5, NOSE_Y),
)
# The mean of the synthetic generator's own landmarks over 300 faces (seg_f1/data/drawing.py
# draws them; tests/test_alignment.py recomputes the mean).
SYNTHETIC = (
    (0.6574, 0.4420),
    (0.5709, 0.4422),
    (0.3368, 0.4434),
    (0.4234, 0.4430),
    (0.4981, 0.6092),
)
TEMPLATES = {"celeba_hq": CELEBA_HQ, "synthetic": SYNTHETIC}
DEFAULT = "celeba_hq"  # a checkpoint or export from before framings were stored


def framing_of(data: Mapping | None) -> dict:
    """The framing a data config trains on: its own ``framing`` (a name in TEMPLATES, or a dict
    with ``name`` and ``template``), the synthetic set's, or CelebA-HQ's."""
    data = data or {}
    chosen = data.get("framing")
    if chosen is None:
        target = str((data.get("source") or {}).get("_target_", ""))
        chosen = "synthetic" if target.endswith("SyntheticFaces") else DEFAULT
    if isinstance(chosen, str):
        if chosen not in TEMPLATES:
            raise ValueError(f"data.framing={chosen!r}: expected one of {sorted(TEMPLATES)}")
        return {"name": chosen, "template": [list(p) for p in TEMPLATES[chosen]]}
    return checked({"name": chosen.get("name", "custom"), "template": chosen.get("template")})


def checked(framing: Mapping, where: str = "framing") -> dict:
    """A framing with 5 (x, y) points in [0, 1], or an error naming ``where``."""
    points = framing.get("template")
    ok = isinstance(points, list | tuple) and len(points) == 5
    ok = ok and all(len(p) == 2 and all(0.0 <= float(c) <= 1.0 for c in p) for p in points)
    if not ok:
        raise ValueError(f"{where}: template must be 5 (x, y) pairs in [0, 1], got {points!r}")
    return {
        "name": str(framing.get("name", "custom")),
        "template": [list(map(float, p)) for p in points],
    }
