"""An Optuna sweeper whose ``n_trials`` counts the whole study, so running it again resumes.

hydra-optuna-sweeper already reloads a study from its storage, but it then runs ``n_trials``
more trials, numbers their job directories from 0 again (overwriting finished trials' outputs),
leaves a trial killed mid-run as RUNNING forever, and, with a seeded sampler, proposes the
same first points again. This subclass fixes those four things before handing over.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ImportError:  # without the `sweep` extra: no plugin, and no warning on every run
    OptunaSweeper = None

INTERRUPTED = "interrupted"


class ResumableOptunaSweeper(OptunaSweeper or object):
    """``hydra.sweeper.n_trials`` finished trials in total, over however many invocations."""

    def sweep(self, arguments: list[str]) -> None:
        impl = self.sweeper
        if impl.storage is not None:
            Path(impl.sweep_dir).mkdir(parents=True, exist_ok=True)  # SQLite makes no folders
            study = _existing_study(impl.study_name, impl.storage)
            if study is not None:
                self._resume(impl, study)
        impl.sweep(arguments)

    @staticmethod
    def _resume(impl: Any, study: Any) -> None:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        for trial in trials:
            if trial.state == TrialState.RUNNING:  # its process died; it will never report
                study._storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
                study._storage.set_trial_state(trial._trial_id, TrialState.FAIL)
        trials = study.get_trials(deepcopy=False)
        finished = sum(
            t.state in (TrialState.COMPLETE, TrialState.FAIL) and not t.user_attrs.get(INTERRUPTED)
            for t in trials
        )
        impl.n_trials = max(0, impl.n_trials - finished)
        impl.job_idx = len(trials)  # new job directories follow the existing ones
        if hasattr(impl.sampler, "reseed_rng"):
            impl.sampler.reseed_rng()  # a seeded sampler would otherwise repeat its first picks
        log.info(
            "resuming study %s: %d trials finished, %d to go, next job %d",
            study.study_name, finished, impl.n_trials, impl.job_idx,
        )  # fmt: skip


def _existing_study(name: str | None, storage: Any) -> Any:
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
