"""Face alignment: the similarity fit, the templates, dlib on a real face moved about a larger
photo, and the warp / parse / warp-back round trip on synthetic faces whose landmarks are known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from inference_fixtures import SYNTHETIC_RECIPE, ColourOracle, apply, placed_face
from skimage import data

from seg_f1.data.drawing import sample_with_landmarks
from seg_f1.data.framing import CELEBA_HQ, SYNTHETIC
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.inference import alignment
from seg_f1.inference.alignment import aligned_crop, face_transform, invert, similarity
from seg_f1.inference.faces import FaceFinder
from seg_f1.inference.model import ArrayNetwork, TrainedNetwork
from seg_f1.inference.parse import predict_logits, predict_masks
from seg_f1.inference.recipe import InputRecipe
from seg_f1.report.palette import colourise

CORNERS = np.array([[-0.5, -0.5], [127.5, -0.5], [-0.5, 127.5], [127.5, 127.5]])


def placement(scale: float, degrees: float, shift) -> np.ndarray:
    """A 2x3 matrix that turns by ``degrees`` (counter-clockwise on screen), scales, shifts."""
    matrix = cv2.getRotationMatrix2D((0.0, 0.0), degrees, scale)
    matrix[:, 2] = shift
    return matrix


def test_similarity_recovers_a_known_turn_scale_and_shift():
    points = np.array([[10.0, 20.0], [40.0, 22.0], [25.0, 50.0], [5.0, 5.0], [33.0, 41.0]])
    # 30 degrees, scale 2, shift (5, -3): cos 30 * 2 = 1.7321, sin 30 * 2 = 1.0
    expected = np.array([[1.7321, -1.0, 5.0], [1.0, 1.7321, -3.0]])
    got = similarity(points, apply(expected, points))
    assert np.allclose(got, expected, atol=1e-3)
    with pytest.raises(ValueError, match="coincide"):
        similarity(np.ones((5, 2)), points)


def test_the_synthetic_template_is_the_mean_of_the_generators_landmarks():
    points = np.stack([sample_with_landmarks(0, "train", i, 64)[2] for i in range(300)])
    assert np.abs(((points + 0.5) / 64).mean(0) - np.array(SYNTHETIC)).max() < 2e-3


def test_the_celeba_hq_template_comes_within_6_percent_of_a_real_celeba_hq_crop():
    """The astronaut's eye centres and mouth corners marked by hand, cropped the way the
    Progressive GAN dataset tool crops CelebA-HQ, against the crop the template gives from
    dlib's 5 points (docs/predict.md: 5.2 % of the side on average)."""
    photo = data.astronaut()
    eyes = np.array([[205.0, 101.7], [245.0, 103.0]])
    mouth = np.array([[203.3, 140.0], [244.2, 140.8]]).mean(0)
    eye_mid = eyes.mean(0)
    eye_to_eye, eye_to_mouth = eyes[1] - eyes[0], mouth - eye_mid

    def turn(v):
        return np.array([-v[1], v[0]])

    x = eye_to_eye - turn(eye_to_mouth)
    x *= max(2.0 * np.hypot(*eye_to_eye), 1.8 * np.hypot(*eye_to_mouth)) / np.hypot(*x)
    centre, y = eye_mid + 0.1 * eye_to_mouth, turn(x)
    celeba_hq = np.stack([centre - x - y, centre + x - y, centre - x + y, centre + x + y])
    (face, *_) = FaceFinder()(photo)
    ours = apply(invert(face_transform(face.landmarks, CELEBA_HQ, 128)), CORNERS)
    error = np.hypot(*(ours - celeba_hq).T) / (2 * np.hypot(*x))
    assert error.mean() < 0.06, error


@pytest.mark.parametrize(
    ("scale", "degrees", "shift"), [(1.5, 12, (300, 400)), (0.8, -10, (500, 250))]
)
def test_dlib_finds_the_astronaut_moved_into_a_larger_photo_and_crops_it_the_same(
    scale, degrees, shift
):
    photo = data.astronaut()
    finder = FaceFinder(upsample=1)  # the 0.8 x face is below the 80 px window
    untouched = face_transform(finder(photo)[0].landmarks, CELEBA_HQ, 128)
    place = placement(scale, degrees, shift)
    canvas = cv2.warpAffine(photo, place, (1100, 900), flags=cv2.INTER_LINEAR)
    faces = finder(canvas)
    assert faces, "the detector found no face in the moved photo"
    moved = face_transform(faces[0].landmarks, CELEBA_HQ, 128)
    # the moved photo's crop, taken back to the untouched photo, lands on the untouched crop:
    # within 3 px of 128 where the face is, 6 px at the corners (dlib's landmark noise, turned)
    through = moved @ np.vstack([place, [0, 0, 1]])
    face = invert(untouched)
    face_points = apply(face, np.array(CELEBA_HQ) * 128 - 0.5)
    assert np.abs(apply(through, face_points) - apply(untouched, face_points)).max() < 3.0
    assert np.abs(apply(through, CORNERS) - apply(untouched, CORNERS)).max() < 6.0
    box = faces[0].box
    assert box[0] < faces[0].landmarks[:, 0].min() and box[2] > faces[0].landmarks[:, 0].max()


def test_a_synthetic_face_moved_about_a_photo_round_trips_to_its_placed_mask():
    place = placement(1.7, 20, (150, 40))
    photo, truth, points = placed_face(1, place, (420, 380))
    oracle = ColourOracle(SYNTHETIC_RECIPE)
    (mask,) = predict_masks(oracle, SYNTHETIC_RECIPE, [photo], [[points]])
    assert mask.shape == truth.shape
    assert (mask == truth).mean() > 0.98
    matrix = face_transform(points, SYNTHETIC_RECIPE.framing["template"], 128)
    seen = cv2.warpAffine(np.ones((128, 128), np.uint8), invert(matrix), photo.shape[1::-1])
    near = cv2.dilate(seen, np.ones((3, 3), np.uint8)) > 0  # bilinear reaches a pixel further
    assert (mask[~near] == 0).all() and (truth[~near] > 0).any()  # not covered: background
    seen = seen > 0
    for c in np.unique(truth[seen & (truth > 0)]):  # every part the crop sees is found there
        found, put = (mask == c) & seen, (truth == c) & seen
        hit = (found & put).sum() / (found | put).sum()
        assert hit > 0.6, (CLASSES[c], hit)
    # the aligned crop is the untouched face's crop, whatever the placement
    _, _, home = sample_with_landmarks(0, "test", 1, 128)
    template = SYNTHETIC_RECIPE.framing["template"]
    untouched = colourise(sample_with_landmarks(0, "test", 1, 128)[1], CLASSES)
    a = aligned_crop(untouched, face_transform(home, template, 128), 128)
    b = aligned_crop(photo, face_transform(points, template, 128), 128)
    # each inner part's centre in the crop lands within 1.5 px of where it is in the untouched
    # face's crop (the outer ones differ: beyond the untouched face's edge its crop mirrors)
    oracle = ColourOracle(InputRecipe(128, (0.0,) * 3, (1 / 255,) * 3, ()))
    parts = [oracle(c.transpose(2, 0, 1)[None].astype(np.float32))[0].argmax(0) for c in (a, b)]
    inner = [CLASSES.index(n) for n in ("l_eye", "r_eye", "l_brow", "r_brow", "nose", "u_lip")]
    for c in inner:
        ya, xa = np.nonzero(parts[0] == c)
        yb, xb = np.nonzero(parts[1] == c)
        if len(ya) > 5:
            assert np.hypot(xa.mean() - xb.mean(), ya.mean() - yb.mean()) < 1.5, CLASSES[c]


def test_two_faces_each_pixel_takes_the_most_confident_and_uncovered_pixels_are_background():
    first, truth_a, points_a = placed_face(2, placement(1.0, 0, (0, 0)), (400, 200))
    second, truth_b, points_b = placed_face(3, placement(1.0, 0, (250, 40)), (400, 200))
    photo = np.where(truth_b[..., None] > 0, second, first)
    oracle = ColourOracle(SYNTHETIC_RECIPE)
    (mask,) = predict_masks(oracle, SYNTHETIC_RECIPE, [photo], [[points_a, points_b]])
    truth = np.where(truth_b > 0, truth_b, truth_a)
    assert (mask == truth).mean() > 0.97
    assert (mask[:, 385:] == 0).all() and (mask[185:, :] == 0).all()  # no face covers these


def test_align_none_gives_the_old_whole_photo_parse_in_bands(monkeypatch):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, len(CLASSES), 3, padding=1)
    model = ArrayNetwork(TrainedNetwork(conv, CLASSES, False, None).eval())
    recipe = InputRecipe(32, (0.5,) * 3, (0.25,) * 3, ())
    monkeypatch.setattr(alignment, "BAND_PIXELS", 999)  # many bands of a few rows
    rng = np.random.default_rng(0)
    for shape in [(50, 70, 3), (131, 97, 3)]:
        photo = rng.integers(0, 256, shape, dtype=np.uint8)
        old = predict_logits(model, recipe, [photo])[0].argmax(0).numpy()
        (new,) = predict_masks(model, recipe, [photo])
        assert new.shape == shape[:2] and (new == old).mean() > 0.999


def test_a_face_the_photos_edge_cuts_parses_what_is_left_of_it():
    place = placement(1.5, 0, (-110, 30))  # the left half of the face, eye and all, is outside
    photo, truth, points = placed_face(5, place, (200, 240))
    assert points[:, 0].min() < 0  # a landmark outside the photo
    (mask,) = predict_masks(ColourOracle(SYNTHETIC_RECIPE), SYNTHETIC_RECIPE, [photo], [[points]])
    assert mask.shape == (240, 200) and (mask == truth).mean() > 0.97
