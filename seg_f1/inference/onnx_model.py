"""An exported ONNX model that carries what a deployer needs (class names, palette, mean/std,
training size, the size multiple the network takes, the face framing, and the F1 decision
rule's per-class offsets ``decision_offsets`` when the model was calibrated: masks are then
``argmax(logits + offsets)``) in its ``metadata_props``, and runs through onnxruntime alone: no
torch checkpoint, no seg_f1 config.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seg_f1.data.framing import checked, framing_of
from seg_f1.inference.recipe import InputRecipe
from seg_f1.inference.rules import checked_offsets
from seg_f1.report.palette import palette

INPUT, OUTPUT = "image", "logits"
DYNAMIC_AXES = {name: {0: "batch", 2: "height", 3: "width"} for name in (INPUT, OUTPUT)}
REQUIRED = ("class_names", "mean", "std", "image_size", "size_multiple")


def metadata(class_names, recipe: InputRecipe, size_multiple: int) -> dict[str, str]:
    """``metadata_props`` as JSON strings: lists stay lists in any language's JSON reader."""
    return {
        "class_names": json.dumps(list(class_names)),
        "palette": json.dumps(palette(class_names).tolist()),
        "mean": json.dumps(list(recipe.mean)),
        "std": json.dumps(list(recipe.std)),
        "image_size": str(recipe.image_size),
        "size_multiple": str(size_multiple),
        "flip_pairs": json.dumps([list(pair) for pair in recipe.flip_pairs]),
        # where faces sit in the training squares: dlib's 5 landmarks as fractions of the side
        "framing": recipe.framing["name"],
        "face_template": json.dumps(recipe.framing["template"]),
        "input": f"{INPUT}: float32 [batch, 3, height, width], RGB in [0, 1] minus mean over std",
        "output": f"{OUTPUT}: float32 [batch, classes, height, width]",
    }


def open_session(path: Path):
    """An onnxruntime session on ``path``; a damaged file (a copy that did not finish, another
    format) is named with what to do, not left as onnxruntime's traceback."""
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own classes: InvalidProtobuf, Fail, InvalidGraph
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ValueError(
            f"{path}: not a loadable ONNX model ({type(error).__name__}: {detail}); the file is "
            "damaged or not ONNX: export it again with python -m seg_f1.export "
            f"ckpt_path=<checkpoint> output={path}"
        ) from None


def read_metadata(session, path: Path) -> dict[str, str]:
    props = session.get_modelmeta().custom_metadata_map
    missing = [key for key in REQUIRED if key not in props]
    if missing:
        raise ValueError(
            f"{path}: not a seg_f1 ONNX export, metadata_props lacks {missing}; export it again "
            "with python -m seg_f1.export"
        )
    return props


def exported_framing(props: dict[str, str], path: Path) -> dict:
    """The export's framing; one from before framings were stored gets CelebA-HQ's."""
    if "face_template" not in props:
        return framing_of(None)
    template = json.loads(props["face_template"])
    return checked({"name": props.get("framing", "custom"), "template": template}, f"{path}")


class OnnxModel:
    """Called as predict calls any backend (``ArrayNetwork`` too): a normalised float32
    [B, 3, H, W] array in, float32 logits out."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model: no such ONNX file {path}")
        self.session = open_session(path)
        props = read_metadata(self.session, path)
        self.class_names: list[str] = json.loads(props["class_names"])
        self.size_multiple = int(props["size_multiple"])
        self.recipe = InputRecipe(
            int(props["image_size"]),
            tuple(json.loads(props["mean"])),
            tuple(json.loads(props["std"])),
            tuple(tuple(pair) for pair in json.loads(props.get("flip_pairs", "[]"))),
            exported_framing(props, path),
        )
        # the F1 decision rule's per-class offsets, when the checkpoint had them (decode=f1)
        offsets = props.get("decision_offsets")
        self.decision_offsets = (
            None
            if offsets is None
            else checked_offsets(json.loads(offsets), self.class_names, path)
        )

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run([OUTPUT], {INPUT: np.asarray(batch, np.float32)})
        return logits
