"""Wall time and peak memory of parsing one big photo: today's predict (``align=none`` and
``align=auto``) against the code before issue 24, side by side in one run.

    python benchmarks/bench_predict.py [--width 4000] [--height 3000] [--size 512] [--threads 2]
        [--commands torch,onnx]

Writes a ``--width`` x ``--height`` JPEG (12 MP at the default: scikit-image's astronaut, a real
face, scaled up 3x and turned 10 degrees onto a noisy backdrop) and a U-Net-resnet18 checkpoint of
the ``--size`` training squares (random weights: the cost does not depend on them). Each variant
runs in its own fresh process, which loads the model, reads the photo, parses it and writes the
mask PNG at the photo's size:

- before: the whole photo's logits upsampled at once to the photo's size (``F.interpolate`` of
  every class, then argmax), as predict did before issue 24;
- none: ``align=none``, the same parse built in bands, one class at a time;
- auto: ``align=auto``, dlib's detector and 5 landmarks, the face warped onto the model's
  framing, its parse warped back over the face's region only.

Printed per variant: the process's wall time (Python start, imports and model load included),
the parse alone (read, detect, model, warp back, argmax), and the process's peak resident memory
(``ru_maxrss`` of that child, from ``os.wait4``: what ``/usr/bin/time -v`` reports). Then the whole
command as a user runs it, ``python -m seg_f1.predict ... align=none|auto overlay=true|false``
(Hydra, the mask and overlay PNGs and legend.png included), with the checkpoint
(``backend=torch``) and with its ONNX export (``backend=onnx``: onnxruntime, torch never
imported). The goal: at most 5 s and 1 GB for ``align=auto``.

The photo, the checkpoint and the export are made in a child process too: the peak RSS a child
reports starts at its parent's resident set when it was forked (``ru_maxrss`` survives exec), so
a parent holding torch would lift every row to its own size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, time
import numpy as np, torch
torch.set_num_threads({threads})
from PIL import Image
from omegaconf import OmegaConf
from seg_f1.inference.model import ArrayNetwork, load_model
from seg_f1.inference import parse
from seg_f1.inference.memory import return_freed_memory
if {variant!r} != "before":
    return_freed_memory()  # as the predict command does
network, recipe = load_model({ckpt!r})
model = ArrayNetwork(network)
start = time.perf_counter()
photo = np.asarray(Image.open({photo!r}).convert("RGB"))
if {variant!r} == "before":
    mask = parse.predict_logits(model, recipe, [photo])[0].argmax(0).numpy().astype(np.uint8)
else:
    aligner = parse.Aligner(OmegaConf.create({{"align": {variant!r}}}))
    points, _ = aligner({photo!r}, photo)
    (mask,) = parse.predict_masks(model, recipe, [photo], [points])
Image.fromarray(mask).save({out!r})
print(f"parse_s={{time.perf_counter() - start:.3f}}")
"""


def make_inputs(folder: Path, width: int, height: int, size: int, onnx: bool) -> tuple[Path, Path]:
    """The big photo and a full-size U-Net-resnet18 checkpoint of ``size`` squares (and with
    ``onnx`` its export)."""
    import cv2
    import numpy as np
    from skimage import data

    sys.path.insert(0, str(ROOT / "tests"))
    from inference_fixtures import write_checkpoint

    rng = np.random.default_rng(0)
    canvas = rng.integers(60, 200, (height // 8, width // 8, 3), dtype=np.uint8)
    canvas = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_CUBIC)
    turn = cv2.getRotationMatrix2D((256, 256), 10, 3.0)
    turn[:, 2] += (width * 0.4 - 256, height * 0.35 - 256)
    face = cv2.warpAffine(data.astronaut(), turn, (width, height))
    inside = cv2.warpAffine(np.ones((512, 512), np.uint8), turn, (width, height)) > 0
    canvas[inside] = face[inside]
    photo = folder / "photo.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    ckpt = write_checkpoint(folder / "model.ckpt", image_size=size, full=True)
    if onnx:
        from seg_f1.inference.model import load_model
        from seg_f1.inference.onnx_export import export_onnx

        export_onnx(*load_model(ckpt), folder / "model.onnx")
    return photo, ckpt


def run_child(name: str, command: list[str], threads: int) -> tuple[str, float, float]:
    """One fresh process: its output, wall time and peak RSS (MB, ``ru_maxrss`` from wait4)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": str(threads)}  # fmt: skip
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0), err.seek(0)
        if child.returncode != 0:
            raise RuntimeError(f"{name} failed:\n{err.read()[-3000:]}")
        return out.read(), wall, usage.ru_maxrss / 1024


def measure(variant: str, photo: Path, ckpt: Path, folder: Path, threads: int) -> dict:
    """One fresh process: its wall time, the parse's time, its peak RSS (MB)."""
    code = CHILD.format(threads=threads, ckpt=str(ckpt), photo=str(photo), variant=variant,
                        out=str(folder / f"{variant}_mask.png"))  # fmt: skip
    out, wall, rss = run_child(variant, [sys.executable, "-c", code], threads)
    parse_s = float(out.split("parse_s=")[1].split()[0])
    return {"variant": variant, "wall_s": wall, "parse_s": parse_s, "rss_mb": rss}


# the whole command's rows per backend: (align, overlay)
COMMANDS = {
    "torch": [("none", "true"), ("none", "false"), ("auto", "true"), ("auto", "false")],
    "onnx": [("auto", "true"), ("auto", "false")],
}


def command_row(backend, align, overlay, photo, ckpt, folder: Path, threads: int) -> tuple:
    """``python -m seg_f1.predict`` on the photo, as a user runs it."""
    output = folder / f"command_{backend}_{align}_{overlay}"
    model = f"ckpt_path={ckpt}" if backend == "torch" else f"onnx_model={ckpt.with_suffix('.onnx')}"
    command = [sys.executable, "-m", "seg_f1.predict", f"backend={backend}", model,
               f"input={photo}", f"output={output}", f"align={align}", f"overlay={overlay}",
               "progress=false", f"hydra.run.dir={folder / 'hydra'}"]  # fmt: skip
    _, wall, rss = run_child(f"predict backend={backend} align={align}", command, threads)
    return backend, align, overlay, wall, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--commands", default="torch,onnx", help="backends, or none")
    parser.add_argument("--inputs-in", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    backends = [b for b in args.commands.split(",") if b != "none"]
    if args.inputs_in:
        make_inputs(args.inputs_in, args.width, args.height, args.size, "onnx" in backends)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sizes = ["--width", str(args.width), "--height", str(args.height), "--size", str(args.size)]
        inputs = [sys.executable, __file__, "--inputs-in", str(folder), "--commands", args.commands]
        run_child("inputs", [*inputs, *sizes], 2)
        photo, ckpt = folder / "photo.jpg", folder / "model.ckpt"
        rows = [measure(v, photo, ckpt, folder, args.threads) for v in ("before", "none", "auto")]
        commands = [command_row(backend, align, overlay, photo, ckpt, folder, args.threads)
                    for backend in backends for align, overlay in COMMANDS[backend]]  # fmt: skip
        import numpy as np  # after every child: a parent holding two 12 MP masks lifts their RSS
        from PIL import Image

        masks = {v: np.asarray(Image.open(folder / f"{v}_mask.png")) for v in ("before", "none")}
        same = (masks["before"] == masks["none"]).mean()
    print(f"{args.width}x{args.height} photo, {args.size} px model, {args.threads} threads")
    print(f"{'variant':<8} {'wall s':>8} {'parse s':>8} {'peak RSS MB':>12}")
    for row in rows:
        name, wall, parse_s, rss = row["variant"], row["wall_s"], row["parse_s"], row["rss_mb"]
        print(f"{name:<8} {wall:>8.2f} {parse_s:>8.2f} {rss:>12.0f}")
    print(f"align=none mask equal to before's at {same:.4%} of pixels")
    print(f"\nthe whole command, {args.threads} threads")
    print(f"{'backend':<8} {'align':<8} {'overlay':<8} {'wall s':>8} {'peak RSS MB':>12}")
    for backend, align, overlay, wall, rss in commands:
        print(f"{backend:<8} {align:<8} {overlay:<8} {wall:>8.2f} {rss:>12.0f}")


if __name__ == "__main__":
    main()
