"""A fixed face-parsing palette: a class keeps its colour whatever the dataset's label order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NAMED = {
    "background": (0, 0, 0),
    "skin": (204, 102, 51),
    "nose": (255, 153, 51),
    "eye_g": (0, 204, 204),
    "l_eye": (51, 51, 255),
    "r_eye": (204, 0, 255),
    "l_brow": (255, 255, 0),
    "r_brow": (153, 153, 0),
    "l_ear": (102, 255, 102),
    "r_ear": (0, 153, 0),
    "mouth": (102, 0, 0),
    "inner_mouth": (102, 0, 0),
    "u_lip": (255, 0, 102),
    "l_lip": (153, 0, 51),
    "hair": (120, 60, 200),  # purple: brown beside the orange skin was hard to tell on photos
    "hat": (255, 204, 204),
    "ear_r": (0, 255, 255),
    "neck_l": (153, 204, 255),
    "neck": (255, 153, 153),
    "cloth": (0, 102, 153),
}
IGNORE_COLOUR = (255, 255, 255)


def palette(class_names: Sequence[str]) -> np.ndarray:
    """[C, 3] uint8 colours; a class the table lacks gets a colour seeded by its name."""
    colours = []
    for name in class_names:
        if name in NAMED:
            colours.append(NAMED[name])
        else:
            seed = sum(name.encode()) * 7919
            colours.append(tuple(int(c) for c in np.random.default_rng(seed).integers(0, 256, 3)))
    return np.asarray(colours, dtype=np.uint8)


def colourise(mask: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """[H, W] class indices -> [H, W, 3] RGB; any index outside the classes (255) is white."""
    colours = np.vstack([palette(class_names), np.asarray([IGNORE_COLOUR], dtype=np.uint8)])
    index = np.minimum(mask, len(class_names))  # the mask's own dtype: no int64 copy of a photo
    return colours[index]


BAND_PIXELS = 1 << 20  # pixels per band of an overlay: 3 MB of colours, not a photo's 36 MB


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    class_names: Sequence[str],
    alpha=0.5,
    in_place: bool = False,
):
    """The RGB ``image`` (uint8) blended with the coloured mask; background stays the photo.
    In uint8 throughout (a 12 MP photo's float copies would take 0.6 GB), and in bands of rows,
    so the coloured mask is never held whole beside the photo and the blend. ``in_place``
    blends into a C-ordered ``image`` itself, for a caller that is done with the photo."""
    import cv2

    if in_place and image.flags.c_contiguous and image.flags.writeable:
        blend = image
    else:
        blend = np.array(image, np.uint8, order="C")  # a copy, whatever the layout of image
    rows = max(1, BAND_PIXELS // max(1, image.shape[1]))
    for top in range(0, image.shape[0], rows):
        part, labels = blend[top : top + rows], mask[top : top + rows]
        mixed = cv2.addWeighted(part, 1 - alpha, colourise(labels, class_names), alpha, 0.0)
        np.copyto(part, mixed, where=(labels != 0)[..., None])
    return blend


def draw_faces(image: np.ndarray, faces: Sequence) -> np.ndarray:
    """Each detected face's box (white) and 5 landmarks (green) drawn on ``image`` itself (an
    overlay made for it: no copy of a 12 MP picture); lines scale with the photo."""
    import cv2

    width = max(1, round(max(image.shape[:2]) / 400))
    for face in faces:
        x0, y0, x1, y1 = face.box
        cv2.rectangle(image, (x0, y0), (x1, y1), (255, 255, 255), width)
        for x, y in face.landmarks:
            cv2.circle(image, (round(x), round(y)), 2 * width, (0, 255, 0), -1)
    return image


def with_legend(image: np.ndarray, mask: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """A white box drawn in ``image``'s top-left corner (on ``image`` itself) naming the colour
    of each class the mask shows (background left out), so an overlay reads without legend.png
    beside it; the picture keeps the photo's size. One too small for a readable line gets none."""
    counts = class_counts(mask, len(class_names))
    shown = [c for c in range(1, len(class_names)) if counts[c]]
    height, width = image.shape[:2]
    row = max(10, min(height // (len(shown) + 1), max(10, height // 40)))
    if not shown or row * 3 > width:
        return image
    rows = min(len(shown), height // row)
    box_w = min(width, legend_width([class_names[c] for c in shown], row))
    image[: rows * row, :box_w] = 255
    draw_legend_rows(image, class_names, shown[:rows], 0, row)
    return image


BACKGROUND_NAME = "background (the photo, uncoloured)"


def legend_picture(class_names: Sequence[str], title: str = "class colours") -> np.ndarray:
    """legend.png beside a folder of overlays: every class's colour and name on white, the
    background an empty box (overlays show the photo there). Drawn with OpenCV as the overlays'
    own corner legend is: predict never imports matplotlib."""
    import cv2

    row = 28
    names = [BACKGROUND_NAME, *class_names[1:]]
    shape = ((len(names) + 1) * row, legend_width([title, *names], row), 3)
    picture = np.full(shape, 255, np.uint8)
    cv2.putText(picture, title, (row // 4, row - row // 4), 0, row / 30, (0, 0, 0), 1, cv2.LINE_AA)
    draw_legend_rows(picture, names, range(1, len(names)), 2 * row, row)
    cv2.rectangle(picture, (row // 4, row + row // 6), (row - 1, 2 * row - row // 6 - 1),
                  (0, 0, 0), 1)  # fmt: skip
    cv2.putText(picture, names[0], (row + row // 4, 2 * row - row // 4), 0, row / 30, (0, 0, 0),
                1, cv2.LINE_AA)  # fmt: skip
    return picture


def legend_width(names: Sequence[str], row: int) -> int:
    """Pixels a legend of these names needs at ``row`` pixels a line: swatch, gap, text."""
    import cv2

    text = max(cv2.getTextSize(name, 0, row / 30, 1)[0][0] for name in names)
    return row + row // 2 + text + row // 4


def draw_legend_rows(image, class_names: Sequence[str], classes, top: int, row: int) -> None:
    """A colour swatch and the name of each of ``classes``, one per ``row`` pixels from ``top``."""
    import cv2

    colours = palette(class_names)
    for k, c in enumerate(classes):
        y = top + k * row
        image[y + row // 6 : y + row - row // 6, row // 4 : row] = colours[c]
        cv2.putText(image, class_names[c], (row + row // 4, y + row - row // 4), 0, row / 30,
                    (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip


def class_counts(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """Pixels of each class index below ``num_classes`` (ignored labels such as 255 left out),
    counted in bands of rows: ``np.bincount`` widens what it counts to int64, 96 MB for a whole
    12 MP mask."""
    rows = max(1, BAND_PIXELS // max(1, mask.shape[1]))
    counts = np.zeros(num_classes, np.int64)
    for top in range(0, mask.shape[0], rows):
        band = np.bincount(mask[top : top + rows].ravel(), minlength=num_classes)
        counts += band[:num_classes]
    return counts
