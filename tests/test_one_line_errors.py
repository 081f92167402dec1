"""A mistake the user can fix ends a command with its one line, not Hydra's traceback, and a run
folder the command made for nothing is not left behind (``seg_f1.runs.errors``, ``announced``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, run_env
from hydra.errors import InstantiationException
from lightning.fabric.utilities.exceptions import MisconfigurationException

from seg_f1.data.folder import FolderSource, check_root
from seg_f1.runs.directory import announced
from seg_f1.runs.errors import user_error_message


def run_command(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**run_env(), **(env or {})},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def printed_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


@pytest.mark.slow
def test_a_missing_data_folder_is_one_line_and_leaves_no_run_folder(tmp_path):
    run_dir, missing = tmp_path / "run", tmp_path / "no_such_faces"
    result = run_command(
        "train.py", "data=folder", f"data.root={missing}", f"hydra.run.dir={run_dir}"
    )
    lines = printed_lines(result)
    assert result.returncode == 1
    assert len(lines) <= 8, "\n".join(lines)
    assert lines[-1] == f"train: data.root={missing}: no such folder"
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr
    assert not run_dir.exists(), "a run that never started leaves no folder"


def test_a_folder_without_the_layout_names_the_layout_it_expected(tmp_path):
    (tmp_path / "faces" / "train" / "images").mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as raised:
        FolderSource(str(tmp_path / "faces")).samples("train")
    said = user_error_message(raised.value)
    assert said.startswith(f"data.root={tmp_path / 'faces'} has no train/masks/ folder")
    assert f"{tmp_path / 'faces' / '{train,val,test}' / 'images'}/<name>.jpg" in said
    assert f"{tmp_path / 'faces' / '{train,val,test}' / 'masks'}/<name>.png" in said


def test_a_folder_this_command_made_for_nothing_is_removed(tmp_path):
    run_dir = hydra_made(tmp_path / "run")
    with pytest.raises(SystemExit) as stopped, announced("evaluate", run_dir):
        (run_dir / "result.json").write_text("{}")  # the record of the failure
        check_root(tmp_path / "missing")
    assert str(stopped.value) == f"evaluate: data.root={tmp_path / 'missing'}: no such folder"
    assert not run_dir.exists()


def test_a_folder_that_held_files_before_the_command_keeps_them(tmp_path):
    run_dir = hydra_made(tmp_path / "mine")
    (run_dir / "notes.txt").write_text("my notes")
    with pytest.raises(SystemExit), announced("train", run_dir):
        check_root(tmp_path / "missing")
    assert (run_dir / "notes.txt").read_text() == "my notes" and (run_dir / ".hydra").is_dir()


def test_hydra_full_error_keeps_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    run_dir = hydra_made(tmp_path / "run")
    with pytest.raises(FileNotFoundError), announced("train", run_dir):
        check_root(tmp_path / "missing")
    assert run_dir.is_dir()


def test_a_bug_keeps_its_traceback_and_its_folder(tmp_path):
    run_dir = hydra_made(tmp_path / "run")
    with pytest.raises(json.JSONDecodeError), announced("train", run_dir):
        json.loads("{")
    assert run_dir.is_dir()


def hydra_made(run_dir):
    """What Hydra leaves before a command's own code runs: its config folder, an empty log."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "train.log").touch()
    return run_dir


def test_a_check_of_this_project_is_the_users_to_fix():
    with pytest.raises(FileNotFoundError) as raised:
        check_root("/no/such/faces")
    assert user_error_message(raised.value) == "data.root=/no/such/faces: no such folder"


def test_a_value_error_from_a_library_is_a_bug_and_keeps_its_traceback():
    with pytest.raises(ValueError) as raised:
        json.loads("{")
    assert user_error_message(raised.value) is None


def test_an_os_error_naming_its_file_is_the_users(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        open(tmp_path / "gone.png")  # noqa: SIM115 - it never opens
    assert user_error_message(raised.value) == f"{tmp_path / 'gone.png'}: No such file or directory"


def test_hydras_instantiate_wrapper_gives_way_to_the_check_inside():
    try:
        check_root(None, "data.root")
    except ValueError as cause:
        wrapped = InstantiationException("Error in call to target 'x':\nValueError(...)")
        wrapped.__cause__ = cause
    assert user_error_message(wrapped) == "data.root is not set: pass data.root=/path/to/dataset"


def test_lightnings_refusals_are_the_users():
    error = MisconfigurationException("`Trainer(devices=3)` is more than the 2 CPUs available")
    assert user_error_message(error) == "`Trainer(devices=3)` is more than the 2 CPUs available"
