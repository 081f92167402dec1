"""A run's final record is never lost silently, even when result.json cannot be written."""

from __future__ import annotations

import json
import shutil
import tempfile

import pytest
from omegaconf import OmegaConf

from seg_f1.runs.results import run_objective


def test_a_failed_write_of_the_failure_record_reports_it_on_stderr(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    cfg = OmegaConf.create({"optimized_metric": "val/f1", "seed": 1})
    run_dir = tmp_path / "run"

    def body(record):
        shutil.rmtree(run_dir)
        run_dir.write_text("")  # the run folder is gone: nothing can be written there any more
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):  # the run's own error, not the write's
        run_objective(cfg, body, str(run_dir))
    err = capsys.readouterr().err
    assert f"could not write {run_dir / 'result.json'}" in err
    record = json.loads(err[err.index("{") :])
    assert record["status"] == "failed" and record["error"].startswith("RuntimeError: boom")
    assert f"it was written to {tmp_path / 'tmp' / 'seg_f1-records'}" in err


def test_a_pruned_stop_survives_pickling():
    """submitit pickles a job's exception back to the sweeper, which must see Pruned again."""
    import pickle

    from seg_f1.runs.results import Pruned

    back = pickle.loads(pickle.dumps(Pruned(3, 0.5)))
    assert isinstance(back, Pruned) and (back.epochs, back.best) == (3, 0.5)
    assert "pruned after 3 epochs" in str(back)


def test_a_continued_run_counts_the_wall_time_of_every_part(tmp_path):
    cfg = OmegaConf.create({"optimized_metric": "val/f1", "seed": 1})
    killed = {"status": "interrupted", "wall_time_s": 100.0, "best": None}  # an older record
    (tmp_path / "result.json").write_text(json.dumps(killed))

    def body(record):
        record.data["best"] = 0.5

    run_objective(cfg, body, str(tmp_path))
    first = json.loads((tmp_path / "result.json").read_text())
    assert first["wall_time_parts_s"][0] == 100.0 and len(first["wall_time_parts_s"]) == 2
    assert first["wall_time_s"] == pytest.approx(sum(first["wall_time_parts_s"]), abs=1e-3)
    run_objective(cfg, body, str(tmp_path))
    second = json.loads((tmp_path / "result.json").read_text())
    assert second["wall_time_parts_s"][:2] == first["wall_time_parts_s"]
    assert second["wall_time_s"] >= 100.0 and len(second["wall_time_parts_s"]) == 3


def test_counts_read_in_the_singular_and_plural():
    from seg_f1 import counted
    from seg_f1.runs.results import Pruned

    assert [counted(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert str(Pruned(1, 0.5)) == "pruned after 1 epoch (best so far 0.5)"
