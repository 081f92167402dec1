"""The W&B logger as conf/logger/wandb.yaml builds it starts a run without W&B's warning that
the deprecated ``anonymous`` setting has no effect."""

from __future__ import annotations

import warnings

import hydra
import pytest
from wandb.errors import term


@pytest.mark.slow
def test_an_offline_wandb_run_starts_without_the_anonymous_warning(
    compose_cfg, tmp_path, monkeypatch, capfd
):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")  # restored after: Lightning's logger sets it
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    # W&B says each such warning once per process: forget what an earlier test was told
    monkeypatch.setattr(term, "_printed_messages", set())
    cfg = compose_cfg("logger=wandb", "logger.wandb.offline=true")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger = hydra.utils.instantiate(cfg.logger.wandb)
        logger.experiment.log({"x": 1.0})
        logger.experiment.finish()
    said = capfd.readouterr()
    assert list((tmp_path / "wandb").glob("offline-run-*"))  # the run did start
    assert "anonymous" not in said.out + said.err
    assert not [w for w in caught if "anonymous" in str(w.message)]
