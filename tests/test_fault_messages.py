"""What the user is told about a checkpoint refused because it would run code (real payloads
calling os.system, subprocess and eval, in torch's current wordings; its older ones too), a
damaged ONNX file, and a run folder that a live run holds (another process, named by host and
pid)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, run_env
from omegaconf import OmegaConf

from seg_f1 import predict
from seg_f1.runs.checkpoints import _unsafe_reason, load_checkpoint
from seg_f1.runs.directory import RunDirInUse, claimed


class Payload:
    """Unpickling calls ``function(*args)``: the marker file appearing would prove it ran."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def payloads(marker: Path) -> dict[str, object]:
    return {
        "os.system": Payload(os.system, f"touch {marker}"),  # torch: module posix is blocked
        "subprocess.call": Payload(subprocess.call, ["touch", str(marker)]),
        "eval": Payload(eval, f"open({str(marker)!r}, 'w')"),
        "a class of its own": Payload(Payload, print, "hello"),
    }


@pytest.mark.parametrize("kind", ["os.system", "subprocess.call", "eval", "a class of its own"])
def test_a_checkpoint_that_would_run_code_is_refused_as_such(tmp_path, kind):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "x": payloads(marker)[kind]}, evil)
    with pytest.raises(ValueError) as refused:
        load_checkpoint(evil)
    message = str(refused.value)
    assert message.startswith(f"{evil}: refused, it needs arbitrary pickle to load"), message
    assert "could run any code" in message and "may be malicious" in message
    assert "truncated" not in message and "\n" not in message
    assert not marker.exists()


def test_older_torch_wordings_of_a_refusal_are_recognised():
    older = {
        "Unsupported class posix.system": "posix.system",  # torch 1.13 to 2.3
        "Weights only load failed. Trying to call reduce for unrecognized function "
        "<built-in function system>": "<built-in function system>",
    }
    for text, name in older.items():
        assert _unsafe_reason(RuntimeError(text)) == name
    assert _unsafe_reason(RuntimeError("Ran out of input")) is None


def onnx_identity(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    tensor = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["logits"])], "g",
                              [tensor], [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                                       [1, 3, 4, 4])])  # fmt: skip
    onnx.save(helper.make_model(graph), str(path))
    return path


@pytest.mark.parametrize("damage", ["truncated", "not onnx"])
def test_a_damaged_onnx_model_is_named_with_what_to_do(tmp_path, damage):
    model = onnx_identity(tmp_path / "model.onnx")
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"PK\x03\x04 a zip")
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"")
    cfg = OmegaConf.create({"backend": "onnx", "onnx_model": str(model), "ckpt_path": None,
                            "input": str(photo), "output": str(tmp_path / "out"),
                            "overlay": False, "batch_size": 1, "progress": False,
                            "overwrite": False})  # fmt: skip
    with pytest.raises(ValueError) as refused:
        predict.run(cfg)
    message = str(refused.value)
    assert message.startswith(f"{model}: not a loadable ONNX model (")
    assert "export it again with python -m seg_f1.export" in message and "\n" not in message


HOLD = """
import sys, time
from seg_f1.runs.directory import claimed
with claimed(sys.argv[1], continues=False):
    print("holding", flush=True)
    time.sleep(120)
"""


def test_a_run_folder_held_by_a_live_run_names_its_host_and_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT,
                              env=run_env(), stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        start = time.monotonic()
        with pytest.raises(RunDirInUse) as refused, claimed(tmp_path, continues=True):
            pass
        message = str(refused.value)
        assert f"is in use by another run that is still alive (pid {holder.pid} on host " in message
        assert socket.gethostname() in message and "started " in message
        assert time.monotonic() - start < 5
    finally:
        holder.kill()
        holder.wait()
    with claimed(tmp_path, continues=True):  # the dead run's lock went with its process
        pass
