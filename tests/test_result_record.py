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
