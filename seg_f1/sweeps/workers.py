"""What a sweep worker may count on: the trials that hold one of the study's ``n_trials`` slots,
and a trainer that uses one device (one worker per device, never DDP inside a worker)."""

from __future__ import annotations

from typing import Any

from seg_f1.sweeps.heartbeat import REFUSED_ATTR, SURPLUS_ATTR


def holds_slot(trial: Any) -> bool:
    return not (trial.user_attrs.get(SURPLUS_ATTR) or trial.user_attrs.get(REFUSED_ATTR))


def slot_counts(trials: list[Any]) -> dict[str, int]:
    """Trials that hold one of the study's n_trials slots, by state. A failed trial that was
    requeued hands its slot to the copy; a surplus trial, or one whose job refused its
    directory, never held one."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
    from optuna.trial import TrialState

    replaced = {number for t in trials for number in Retry.retry_history(t)}
    counts = {"finished": 0, "running": 0, "waiting": 0}
    for trial in trials:
        if trial.number in replaced or not holds_slot(trial):
            continue
        if trial.state.is_finished():
            counts["finished"] += 1
        elif trial.state == TrialState.RUNNING:
            counts["running"] += 1
        else:
            counts["waiting"] += 1
    return counts


def check_one_device(trainer: Any) -> None:
    """A worker trains on one device: under DDP Lightning starts the extra ranks by running the
    command again, ``-m`` included, so each rank would become a sweeper worker of its own."""
    nodes, devices = trainer.get("num_nodes", 1), trainer.get("devices", 1)
    if nodes != 1:
        raise ValueError(
            f"trainer.num_nodes={nodes}: an Optuna sweep worker trains on one device; start "
            "one worker per device (docs/sweeps.md)"
        )
    if not _one_device(devices):
        raise ValueError(
            f"trainer.devices={devices}: an Optuna sweep worker trains on one device (DDP would "
            "make every rank a sweeper worker); set trainer.devices=1 and start one worker per "
            "device (docs/sweeps.md)"
        )


def _one_device(devices: Any) -> bool:
    """1, "1", one index ("0,", "3,") or a list of one index; "auto" may mean several."""
    if isinstance(devices, int):
        return devices == 1
    if isinstance(devices, str):
        indices = [d for d in devices.split(",") if d.strip()]
        return devices.strip() == "1" or ("," in devices and len(indices) == 1)
    return len(devices) == 1
