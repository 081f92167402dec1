"""The calibration at the end of a run sees what the run's validation and test saw: a run shrunk
with ``limit_*_batches`` (or ``debug=fdr``) tunes and scores as few images, and its argmax
column is the run's own test F1."""

from __future__ import annotations

import json

import pytest

from seg_f1.inference.calibration import within_limit
from seg_f1.training import train


@pytest.mark.parametrize(
    ("limit", "kept"), [(None, 10), (1.0, 10), (2, 8), (1, 4), (0.5, 4), (0.1, 4), (0.0, 4)]
)
def test_within_limit_keeps_the_batches_the_trainer_runs(limit, kept):
    # 10 images in batches of 4: 3 batches; half of them is 1 (Lightning's int(0.5 * 3))
    assert within_limit(list(range(10)), limit, 4) == list(range(kept))


@pytest.mark.slow
def test_a_shrunk_run_calibrates_on_the_images_it_validated(compose_cfg, tmp_path):
    cfg = compose_cfg("calibrate=true", "data.source.num_val=12", "data.source.num_test=12",
                      "trainer.precision=32-true")  # fmt: skip
    train(cfg)
    record = json.loads((tmp_path / "calibration.json").read_text())
    assert record["images"] == 4  # limit_val_batches=1 x eval_batch_size 4, not all 12
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["decoding"]["test_f1_argmax"] == pytest.approx(result["test_f1"], abs=1e-6)
