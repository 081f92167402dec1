"""Class weights on a 3-image toy set whose counts and weights are worked out by hand."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seg_f1.data.pixel_counts import count_pixels
from seg_f1.losses.class_weights import (
    compute_class_weights,
    resolve_class_weights,
    save_class_weights,
)

IGNORE = 255
NAMES = ["background", "skin", "eye"]
# pixels per class: 6, 7, 3 (N = 16); non-ignored pixels per image: 5, 6, 5
MASKS = [
    [[0, 0, 1], [1, 1, IGNORE]],  # background 2, skin 3
    [[0, 0, 0], [0, 2, 2]],  # background 4, eye 2
    [[1, 1, 1], [1, 2, IGNORE]],  # skin 4, eye 1
]


def write_masks(directory: Path, masks: list) -> list[Path]:
    paths = []
    for i, mask in enumerate(masks):
        path = directory / f"{i}.png"
        Image.fromarray(np.array(mask, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def mask_paths(tmp_path: Path) -> list[Path]:
    return write_masks(tmp_path, MASKS)


@pytest.fixture
def counts(mask_paths):
    return count_pixels(mask_paths, num_classes=3, ignore_index=IGNORE, progress=False)


def normalised(values: list[float]) -> list[float]:
    return [v / (sum(values) / len(values)) for v in values]


def test_counts(counts):
    assert counts.pixels.tolist() == [6, 7, 3]
    assert counts.image_pixels.tolist() == [5 + 6, 5 + 5, 6 + 5]
    assert counts.images_with_class.tolist() == [2, 2, 2]
    assert counts.num_images == 3


def test_inverse(counts):
    # w ~ 1/n = 1/6, 1/7, 1/3 with mean 3/14 -> 7/9, 2/3, 14/9
    assert compute_class_weights(counts, "inverse") == pytest.approx([7 / 9, 2 / 3, 14 / 9])


def test_median_freq(counts):
    # f = 6/11, 7/10, 3/11; median 6/11 -> 1, 60/77, 2; mean 97/77 -> 77/97, 60/97, 154/97
    expected = [77 / 97, 60 / 97, 154 / 97]
    assert compute_class_weights(counts, "median_freq") == pytest.approx(expected)


def test_enet(counts):
    # p = 6/16, 7/16, 3/16 -> 1 / ln(1.02 + p)
    expected = normalised([1 / math.log(1.395), 1 / math.log(1.4575), 1 / math.log(1.2075)])
    assert compute_class_weights(counts, "enet") == pytest.approx(expected)


def test_effective_number(counts):
    # (1 - b) / (1 - b**n) at b = 0.5: 0.5/(63/64), 0.5/(127/128), 0.5/(7/8)
    expected = normalised([32 / 63, 64 / 127, 4 / 7])
    assert compute_class_weights(counts, "effective_number", beta=0.5) == pytest.approx(expected)


def test_absent_class_gets_zero_and_a_warning(mask_paths):
    counts = count_pixels(mask_paths, num_classes=4, progress=False)
    with pytest.warns(UserWarning, match=r"class 3 \(hat\) has no pixels"):
        weights = compute_class_weights(counts, "inverse", class_names=[*NAMES, "hat"])
    assert weights[3] == 0
    assert weights[:3] == pytest.approx([7 / 9, 2 / 3, 14 / 9])


def test_unknown_method_lists_the_valid_ones(counts):
    with pytest.raises(ValueError, match="inverse, median_freq, enet, effective_number"):
        compute_class_weights(counts, "sqrt")


def test_out_of_range_mask_value_names_file_and_value(tmp_path):
    paths = write_masks(tmp_path, [[[0, 1], [7, 0]]])
    with pytest.raises(ValueError, match=r"0.png: mask values \[7\] are not class indices"):
        count_pixels(paths, num_classes=3, progress=False)


def test_progress_bar_runs(mask_paths):
    assert count_pixels(mask_paths, num_classes=3, progress=True).num_images == 3


def test_save_writes_tensor_and_readable_json(counts, tmp_path):
    weights = compute_class_weights(counts, "median_freq")
    pt_path, json_path = save_class_weights(weights, counts, NAMES, "median_freq", tmp_path / "out")
    tensor = torch.load(pt_path, weights_only=True)
    assert tensor.dtype == torch.float32 and tensor.tolist() == pytest.approx(weights.tolist())
    report = json.loads(json_path.read_text())
    assert report["method"] == "median_freq"
    assert report["classes"]["eye"] == {
        "pixels": 3,
        "frequency": pytest.approx(3 / 16),
        "images": 2,
        "weight": pytest.approx(154 / 97),
    }
    assert sorted(p.name for p in pt_path.parent.iterdir()) == [
        "class_weights.json",
        "class_weights.pt",
    ]


def resolve(spec, mask_paths, cache_dir, names=NAMES, ignore_index=IGNORE):
    return resolve_class_weights(
        spec, class_names=names, ignore_index=ignore_index, mask_paths=lambda: mask_paths,
        cache_dirs=[cache_dir],
    )  # fmt: skip


def test_resolve_null_and_list(tmp_path):
    assert resolve(None, [], tmp_path) is None
    assert resolve([1, 2, 3], [], tmp_path).tolist() == [1.0, 2.0, 3.0]


def test_resolve_method_computes_once_then_reads_the_cache(mask_paths, tmp_path):
    first = resolve("median_freq", mask_paths, tmp_path / "cache")
    assert first.tolist() == pytest.approx([77 / 97, 60 / 97, 154 / 97])
    (cached,) = (tmp_path / "cache").glob("class_weights_median_freq-*.pt")
    torch.save(torch.tensor([1.0, 2.0, 3.0]), cached)  # what is read back comes from the cache
    assert resolve("median_freq", mask_paths, tmp_path / "cache").tolist() == [1.0, 2.0, 3.0]


def test_relabelled_masks_are_not_served_stale_weights(mask_paths, tmp_path):
    assert resolve("inverse", mask_paths, tmp_path / "cache").tolist() == pytest.approx(
        [7 / 9, 2 / 3, 14 / 9]
    )
    swapped = [[[{1: 2, 2: 1}.get(v, v) for v in row] for row in mask] for mask in MASKS]
    write_masks(tmp_path, swapped)  # skin and eye trade labels: 6, 3, 7 pixels
    assert resolve("inverse", mask_paths, tmp_path / "cache").tolist() == pytest.approx(
        [7 / 9, 14 / 9, 2 / 3]
    )


def test_the_cache_is_keyed_by_class_list_and_ignore_index(tmp_path):
    paths = write_masks(tmp_path, [[[0, 0, 1], [1, 2, 2]]])  # two pixels of each class
    cache = tmp_path / "cache"
    assert resolve("inverse", paths, cache).tolist() == pytest.approx([1, 1, 1])
    with pytest.warns(UserWarning, match=r"class 0 \(background\) has no pixels"):
        assert resolve("inverse", paths, cache, ignore_index=0).tolist() == [0, 1, 1]
    resolve("inverse", paths, cache, names=["background", "eye", "skin"])
    assert len(list(cache.glob("class_weights_inverse-*.pt"))) == 3


@pytest.fixture
def unwritable():
    """A context in which folders of mode 0o555 cannot be written, even when tests run as root
    (the effective user becomes nobody for the block)."""

    @contextmanager
    def block():
        if os.geteuid() != 0:
            yield
            return
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)

    return block


def test_a_read_only_data_root_falls_back_then_computes_in_memory(unwritable):
    base = Path(tempfile.mkdtemp())  # not under pytest's 0o700 folders: nobody must read it
    try:
        os.chmod(base, 0o755)
        data_root, fallback = base / "data", base / "cache"
        data_root.mkdir()
        fallback.mkdir()
        fallback.chmod(0o777)
        paths = write_masks(data_root, MASKS)
        data_root.chmod(0o555)

        def weights(*cache_dirs):
            return resolve_class_weights(
                "inverse", class_names=NAMES, ignore_index=IGNORE, mask_paths=lambda: paths,
                cache_dirs=cache_dirs,
            ).tolist()  # fmt: skip

        with unwritable():
            assert weights(data_root) == pytest.approx([7 / 9, 2 / 3, 14 / 9])  # in memory
            assert weights(data_root, fallback) == pytest.approx([7 / 9, 2 / 3, 14 / 9])
        assert list(data_root.glob("class_weights*")) == []
        assert len(list(fallback.glob("class_weights_inverse-*.pt"))) == 1
    finally:
        data_root.chmod(0o755)
        shutil.rmtree(base)


@pytest.mark.parametrize("suffix", [".pt", ".json"])
def test_resolve_saved_files(counts, tmp_path, suffix):
    weights = compute_class_weights(counts, "inverse")
    save_class_weights(weights, counts, NAMES, "inverse", tmp_path)
    resolved = resolve(str(tmp_path / f"class_weights{suffix}"), [], tmp_path)
    assert resolved.tolist() == pytest.approx([7 / 9, 2 / 3, 14 / 9])


def test_resolve_errors_name_the_key_and_file(tmp_path):
    with pytest.raises(ValueError, match="loss.class_weights has 2 entries but the data has 3"):
        resolve([1.0, 2.0], [], tmp_path)
    with pytest.raises(ValueError, match=r"loss.class_weights: file .*missing.pt does not exist"):
        resolve(str(tmp_path / "missing.pt"), [], tmp_path)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a tensor")
    with pytest.raises(ValueError, match=r"loss.class_weights: .*broken.pt: cannot read"):
        resolve(str(broken), [], tmp_path)
    short = tmp_path / "short.pt"
    torch.save(torch.ones(5), short)
    with pytest.raises(ValueError, match=r"loss.class_weights \(.*short.pt\) has 5 entries"):
        resolve(str(short), [], tmp_path)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"classes": {"bg": {"weight": 1.0}}}))
    with pytest.raises(ValueError, match=r"other.json lists classes \['bg'\] but the data has"):
        resolve(str(other), [], tmp_path)
    with pytest.raises(ValueError, match="neither a method"):
        resolve("median", [], tmp_path)
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        resolve([1.0, -1.0, 1.0], [], tmp_path)
