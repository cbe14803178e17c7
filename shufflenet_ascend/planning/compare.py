"""The compare stage: one inference path's outputs against a reference's (precision)."""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.contract import IMAGE_SIZE
from shufflenet_ascend.planning.common import INFO, STATE, Actions, Run, is_fresh, remove, script, touch


def candidate_folder(run: Run, batch_size: int) -> str:
    """The run's outputs of BATCH as one folder (several devices: a folder of links to all)."""
    if len(run.devices) == 1:
        return f"{run.dump_folder(batch_size, run.devices[0])}/"
    merged = Path(f"result/all_devices_bs{batch_size}")
    if not is_fresh(merged, STATE / f"inference_bs{batch_size}.done"):
        remove(str(merged))
        merged.mkdir(parents=True)
        for device in run.devices:
            folder = Path(run.dump_folder(batch_size, device))
            for path in folder.iterdir():
                if path.is_file():
                    (merged / path.name).symlink_to(f"../{folder.name}/{path.name}")
    return f"{merged}/"


def stage_compare(actions: Actions, run: Run) -> None:
    batches = run.compare_batches()
    if not batches:
        return
    redone: set[str] = set()  # the markers of reference dumps made in this run: comparisons against them are stale

    def reference(folder: str, marker: str, inputs: Sequence[str], flags: Sequence[object]) -> None:
        if Path(folder).is_dir() and is_fresh(marker, *inputs):
            actions.skip(f"{folder}/ is up to date")
            return
        # The stand-in runs in a scratch folder (its result/ files must not touch the run's own) on the run's bins.
        redone.add(marker)
        Path(marker).unlink(missing_ok=True)
        scratch = STATE / "scratch" / Path(folder).name
        remove(str(scratch), folder)
        scratch.mkdir(parents=True)
        (scratch / "prep_dataset").symlink_to(os.path.join(run.workdir, "prep_dataset"))
        command = [run.python, script("benchmark_ort.py"), *flags, "-model_type=vision", "-device_id=0",
                   f"-input_text_path={os.path.join(run.workdir, INFO)}", f"-input_width={IMAGE_SIZE}",
                   f"-input_height={IMAGE_SIZE}", "-output_binary=False", "-useDvpp=False"]  # fmt: skip
        actions.add("run_in", str(scratch), shlex.join(map(str, command)))
        actions.add("check", "reference", folder, marker)

    def compare(reference_folder: str, candidate: str, json_file: str, *markers: str) -> None:
        if not redone.intersection(markers) and is_fresh(json_file, *markers, STATE / "labels"):
            actions.skip(f"{json_file} is up to date")
            return
        Path(json_file).unlink(missing_ok=True)
        command = [run.python, script("compare_outputs.py"), reference_folder, candidate, "--labels", run.labels,
                   "--json", json_file]  # fmt: skip
        actions.add(
            "tolerate",
            f"NOTE: {candidate} misses a threshold against {reference_folder} (see above and {json_file})",
            f"compare_outputs.py failed on {reference_folder} and {candidate}",
            shlex.join(command),
        )

    if run.stand_in:
        actions.stage(
            "compare", "the stand-in's outputs against the PyTorch reference, and the fp16 preview (precision)"
        )
        weights = "random" if run.random_weights else run.checkpoint
        for variant, folder in (("torch", "result/reference"), ("torch-fp16", "result/reference_fp16")):
            marker = str(STATE / f"{Path(folder).name}.done")
            flags = [
                f"-backend={variant}",
                f"-om_path={weights}",
                f"-model_size={run.model_size}",
                "-seed=0",
                "-batch_size=16",
            ]
            reference(folder, marker, [INFO, str(STATE / "checkpoint"), str(STATE / "model_size")], flags)
        for b in batches:
            compare("result/reference/", candidate_folder(run, b), run.comparison_file(b),
                    str(STATE / "reference.done"), str(STATE / f"inference_bs{b}.done"))  # fmt: skip
        compare("result/reference/", "result/reference_fp16/", "compare_fp16_vs_torch.json",
                str(STATE / "reference.done"), str(STATE / "reference_fp16.done"))  # fmt: skip
    else:
        actions.stage(
            "compare", f"the OM's outputs ({run.infer_tool}) against the ONNX stand-in's on the same inputs (precision)"
        )
        for b in batches:
            folder, marker = f"result/onnx_bs{b}", str(STATE / f"onnx_bs{b}.done")
            onnx = os.path.join(run.workdir, f"shufflenetv2_bs{b}.onnx")
            reference(folder, marker, [INFO, f"shufflenetv2_bs{b}.onnx"],
                      ["-backend=onnxruntime", f"-om_path={onnx}", f"-batch_size={b}"])  # fmt: skip
            compare(f"{folder}/", candidate_folder(run, b), run.comparison_file(b), marker,
                    str(STATE / f"inference_bs{b}.done"))  # fmt: skip


def check_reference(folder: str, marker: str) -> None:
    scratch = STATE / "scratch" / Path(folder).name
    os.rename(scratch / "result" / "dumpOutput_device0", folder)
    shutil.rmtree(scratch)
    touch(marker)
    if Path(folder).name.startswith("onnx_bs"):
        touch(STATE / "onnx_ref.done")
