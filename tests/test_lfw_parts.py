"""LFW Part Labels read as it is downloaded (tiny fixtures in the release layout), and
colour-coded label images in any folder through ``data.label_colors``."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import hydra
import numpy as np
import pytest
import torch
from conftest import ROOT, run_env
from PIL import Image

from seg_f1.data.dataset import FaceParsingDataset, read_mask
from seg_f1.data.label_colors import LabelColors
from seg_f1.data.lfw_parts import LfwParts, lfw_id, read_split_list

BLUE, GREEN, RED = (0, 0, 255), (0, 255, 0), (255, 0, 0)  # background, skin, hair
COLOURS = {"background": BLUE, "skin": GREEN, "hair": RED}
CLASSES = ["background", "skin", "hair"]
PEOPLE = ["Aaron_Peirsol_0001", "Aaron_Peirsol_0002", "Jean-Marc_de_La_Sabliere_0001",
          "Mary_Jo_Myers_0003", "JT_Snow_0001", "Zico_0001"]  # fmt: skip


def label_image(size: int, seed: int) -> np.ndarray:
    """Hair on top (rows < size/4), skin in a centre band, background elsewhere; the split
    row moves with ``seed`` so images differ."""
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[:] = BLUE
    rgb[size // 4 : size // 2 + seed % 3] = GREEN
    rgb[: size // 4] = RED
    return rgb


def expected_indices(size: int, seed: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4 : size // 2 + seed % 3] = 1
    mask[: size // 4] = 2
    return mask


def write_release(root, size=32):
    """The release's layout: photos in person folders (with one unlabelled photo, as in the full
    LFW tree), .ppm labels, and split lists written as this project's copy writes them."""
    for seed, name in enumerate(PEOPLE):
        person = name[:-5]
        photo = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
        (root / "lfw_funneled" / person).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(root / "lfw_funneled" / person / f"{name}.jpg")
        labels = root / "parts_lfw_funneled_gt_images"
        labels.mkdir(exist_ok=True)
        Image.fromarray(label_image(size, seed)).save(labels / f"{name}.ppm")
    unlabelled = root / "lfw_funneled" / "Zico" / "Zico_0002.jpg"
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(unlabelled)
    lists = {"train": PEOPLE[:2] + PEOPLE[4:], "validation": [PEOPLE[2]],
                      "test": [PEOPLE[3]]}  # fmt: skip
    (root / "splits").mkdir(exist_ok=True)
    for split, names in lists.items():
        lines = [
            f"../datasets/lfw_funneled/{n[:-5]}/{n}.jpg\t"
            f"../datasets/parts_lfw_funneled_gt_images/{n}.ppm"
            for n in names
        ]
        (root / "splits" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_ids_are_read_from_any_way_of_writing_a_list():
    line = (
        "../datasets/lfw_funneled/Jean-Marc_de_La_Sabliere/Jean-Marc_de_La_Sabliere_0001.jpg\t"
        "../datasets/parts_lfw_funneled_gt_images/Jean-Marc_de_La_Sabliere_0001.ppm"
    )
    assert lfw_id(line) == "Jean-Marc_de_La_Sabliere_0001"
    assert lfw_id("Aaron_Peirsol 2") == "Aaron_Peirsol_0002"  # the UMass release's lists
    assert lfw_id("Aaron_Peirsol\t0002") == "Aaron_Peirsol_0002"
    assert lfw_id("/data/lfw/Zico/Zico_0001.jpg") == "Zico_0001"
    assert lfw_id("Zico_0001") == "Zico_0001"
    assert lfw_id("   ") is None


def test_a_line_without_an_id_and_a_repeated_id_are_refused_naming_the_list(tmp_path):
    listed = tmp_path / "train.txt"
    listed.write_text("Zico_0001\nnot an id\n")
    with pytest.raises(ValueError, match=r"train\.txt:2: no LFW id .*'not an id'"):
        read_split_list(listed)
    listed.write_text("Zico_0001\nZico 1\n")
    with pytest.raises(ValueError, match=r"train\.txt: an id is listed twice"):
        read_split_list(listed)


def test_colours_map_to_class_indices_and_a_stray_colour_names_the_file(tmp_path):
    colors = LabelColors.from_mapping(COLOURS, CLASSES)
    rgb = label_image(16, 1)
    path = tmp_path / "a.ppm"
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(read_mask(path, colors=colors), expected_indices(16, 1))
    rgb[0, 0] = (254, 0, 0)  # anti-aliased hair edge
    rgb[1, :3] = (255, 255, 255)
    Image.fromarray(rgb).save(path)
    with pytest.raises(ValueError) as error:
        read_mask(path, colors=colors)
    message = str(error.value)
    assert str(path) in message and "data.label_colors" in message
    assert "4 pixels" in message and "(254, 0, 0) x1" in message and "(255, 255, 255) x3" in message


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        ({"background": BLUE, "skin": GREEN}, r"no colour for \['hair'\]"),
        ({**COLOURS, "beard": (1, 2, 3)}, r"no such class \['beard'\]"),
        ({**COLOURS, "hair": (256, 0, 0)}, r"data\.label_colors\.hair=\[256, 0, 0\]"),
        ({**COLOURS, "hair": BLUE}, "background and hair share the colour"),
    ],
)
def test_a_bad_colour_mapping_is_refused_by_key(mapping, named):
    with pytest.raises(ValueError, match=named):
        LabelColors.from_mapping(mapping, CLASSES)


def test_release_layout_splits_and_items(tmp_path):
    root = write_release(tmp_path)
    source = LfwParts(str(root))
    names = {split: [s.name for s in source.samples(split)] for split in ("train", "val", "test")}
    assert names == {"train": [*PEOPLE[:2], *PEOPLE[4:]], "val": [PEOPLE[2]], "test": [PEOPLE[3]]}
    colors = LabelColors.from_mapping(COLOURS, CLASSES)
    sample = source.samples("train")[1]
    assert sample.image == root / "lfw_funneled" / "Aaron_Peirsol" / "Aaron_Peirsol_0002.jpg"
    item = FaceParsingDataset([replace(sample, colors=colors)], 32, num_classes=3)[0]
    np.testing.assert_array_equal(item["mask"].numpy(), expected_indices(32, 1))


def test_the_release_list_names_are_found_too(tmp_path):
    root = write_release(tmp_path)
    (root / "splits" / "test.txt").unlink()
    (root / "parts_test.txt").write_text("Mary_Jo_Myers 3\n")
    assert [s.name for s in LfwParts(str(root)).samples("test")] == ["Mary_Jo_Myers_0003"]
    (root / "parts_test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"splits/test\.txt or .*parts_test\.txt"):
        LfwParts(str(root)).samples("test")
    moved = root / "elsewhere.txt"
    moved.write_text("Zico_0001\n")
    source = LfwParts(str(root), split_lists={"test": "elsewhere.txt"})
    assert [s.name for s in source.samples("test")] == ["Zico_0001"]


def test_a_listed_id_without_its_files_is_refused_naming_both(tmp_path):
    root = write_release(tmp_path)
    (root / "parts_lfw_funneled_gt_images" / "Zico_0001.ppm").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"train\.txt lists Zico_0001, but .*Zico_0001\.ppm"
    ):
        LfwParts(str(root)).samples("train")


def datamodule(compose_cfg, root, *overrides, data="lfw_parts"):
    cfg = compose_cfg(
        f"data={data}", f"data.root={root}", "data.image_size=32", "data.num_workers=0",
        "data.persistent_workers=false", "data.batch_size=2", "data.validate=full", *overrides,
        tiny=False,
    )  # fmt: skip
    module = hydra.utils.instantiate(cfg.data, _convert_="all")
    module.prepare_data()
    return module


def test_datamodule_from_config_reads_colour_labels(compose_cfg, tmp_path):
    module = datamodule(compose_cfg, write_release(tmp_path))
    module.setup("fit")
    assert module.class_names == CLASSES
    batch = next(iter(module.val_dataloader()))
    assert torch.equal(batch["mask"][0], torch.from_numpy(expected_indices(32, 2)))


def test_a_stray_colour_or_a_label_of_another_size_stops_setup_naming_the_file(
    compose_cfg, tmp_path
):
    root = write_release(tmp_path)
    label = root / "parts_lfw_funneled_gt_images" / "Zico_0001.ppm"
    rgb = label_image(32, 5)
    rgb[3, 3] = (0, 0, 0)
    Image.fromarray(rgb).save(label)
    with pytest.raises(ValueError, match=r"Zico_0001\.ppm: 1 pixels of colours \(0, 0, 0\)"):
        datamodule(compose_cfg, root).setup("fit")
    Image.fromarray(label_image(16, 5)).save(label)  # half size: 'scaled' would take it
    with pytest.raises(ValueError, match=r"Zico_0001\.ppm: mask is 16x16 but its image .* 32x32"):
        datamodule(compose_cfg, root).setup("fit")


def write_colour_folder(root):
    for split in ("train", "val", "test"):
        for seed in range(2):
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            (root / split / "masks").mkdir(parents=True, exist_ok=True)
            photo = np.full((16, 16, 3), 40 * seed, np.uint8)
            Image.fromarray(photo).save(root / split / "images" / f"{seed}.jpg")
            Image.fromarray(label_image(16, seed)).save(root / split / "masks" / f"{seed}.png")
    return root


def test_folder_takes_colour_labels_with_a_mapping_and_names_the_key_without(compose_cfg, tmp_path):
    root = write_colour_folder(tmp_path)
    common = ("data.classes=[background,skin,hair]", "data.flip_pairs=[]", "data.image_size=16")
    mapping = "data.label_colors={background: [0,0,255], skin: [0,255,0], hair: [255,0,0]}"
    module = datamodule(compose_cfg, root, *common, mapping, data="folder")
    module.setup("fit")
    mask = module.datasets["test"][1]["mask"].numpy()
    np.testing.assert_array_equal(mask, expected_indices(16, 1))
    with pytest.raises(ValueError, match=r"1\.png: mask has mode RGB .*set data\.label_colors"):
        datamodule(compose_cfg, root, *common, data="folder").setup("fit")


def test_class_weights_count_colour_labels(compose_cfg, tmp_path):
    from seg_f1.data.pixel_counts import count_pixels

    module = datamodule(compose_cfg, write_release(tmp_path))
    counts = count_pixels(module.train_mask_paths(), 3, progress=False, colors=module.label_colors)
    expected = sum(
        np.bincount(expected_indices(32, seed).ravel(), minlength=3)
        for seed, name in enumerate(PEOPLE)
        if name in (*PEOPLE[:2], *PEOPLE[4:])
    )
    np.testing.assert_array_equal(counts.pixels, expected)


@pytest.mark.slow
def test_train_then_evaluate_at_the_photos_size_from_the_release_layout(tmp_path):
    """The documented command on a copy in the release layout: train.py writes the run and the
    test photos' parses; evaluate scores the checkpoint against the 32 px labels themselves."""
    root = write_release(tmp_path / "lfw_parts")
    run_dir = tmp_path / "run"
    common = [f"data.root={root}", "data.num_workers=0", "data.persistent_workers=false"]
    trained = subprocess.run(
        [sys.executable, "train.py", "data=lfw_parts", *common, "data.image_size=16",
         "data.batch_size=2", "trainer.max_epochs=1", "~callbacks.progress_bar",
         "calibrate=false", f"hydra.run.dir={run_dir}"],
        cwd=ROOT, env=run_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "hair" in trained.stdout and (run_dir / "test_predictions.png").is_file()
    best = next((run_dir / "checkpoints").glob("epoch000-f1*.ckpt"))
    evaluated = subprocess.run(
        [sys.executable, "-m", "seg_f1.evaluate", f"ckpt_path={best}",  # its data: the ckpt's
         "eval_at_original_size=true", "tta=flip", "progress=false",
         f"hydra.run.dir={tmp_path / 'eval'}"],
        cwd=ROOT, env=run_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    rows = (tmp_path / "eval" / "evaluation.csv").read_text().splitlines()
    assert [row.split(",")[1] for row in rows[1:4]] == CLASSES
    confusion = torch.load(tmp_path / "eval" / "confusion.pt", weights_only=True)
    assert int(confusion.sum()) == 32 * 32  # one test photo, scored at its labels' own 32x32
    labelled = np.bincount(expected_indices(32, PEOPLE.index("Mary_Jo_Myers_0003")).ravel())
    assert confusion.sum(1).tolist() == labelled.tolist()  # rows: the labels' own pixels
