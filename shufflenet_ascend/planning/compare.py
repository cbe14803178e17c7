"""The compare stage: one inference path's outputs against a reference's (precision)."""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import IMAGE_SIZE
from shufflenet_ascend.formats.info import read_info
from shufflenet_ascend.layers import DEFAULT_MIN_COSINE, first_layer_line, read_layer_csv
from shufflenet_ascend.planning.common import (
    INFO,
    MSIT_CSV,
    STATE,
    Actions,
    Run,
    is_fresh,
    note,
    remove,
    script,
    touch,
)


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
    compare_layers(actions, run, batches[0])


def first_bin(run: Run) -> str:
    """The first input of the info file: the image the layer comparisons run on."""
    entries = read_info(INFO)
    if not entries:
        raise PipelineError(f"{INFO}: lists no input")
    return os.path.relpath(os.path.join(run.workdir, entries[0].path), run.workdir)


def compare_layers(actions: Actions, run: Run, batch_size: int) -> None:
    """Layer by layer on the first image: the ONNX file against itself in float16 (what ATC's default OM computes
    in, predicted on the CPU in seconds) everywhere; on an Ascend host with msit, msit's comparison of the OM with
    its ONNX file as well."""
    image = first_bin(run)
    onnx = f"shufflenetv2_bs{batch_size}.onnx"
    csv_file = run.layer_files()[0]
    if is_fresh(csv_file, onnx, INFO):
        actions.skip(f"{csv_file} is up to date")
    else:
        Path(csv_file).unlink(missing_ok=True)
        command = [run.python, script("compare_layers.py"), onnx, "--fp16", "--input", image, "--csv", csv_file]
        actions.add(
            "tolerate",
            f"NOTE: a layer of {onnx} falls below cosine 0.99 in float16 (see above and {csv_file})",
            f"compare_layers.py failed on {onnx}",
            shlex.join(command),
        )
    if run.int8:
        compare_int8_layers(actions, run, batch_size, image)
    if run.stand_in:
        return
    msit = shutil.which("msit")
    if not msit:
        actions.say("msit not found: the OM is not compared layer by layer (msit debug compare)")
        return
    if 1 not in run.batch_sizes or run.input_dtype != "float32":
        actions.say("msit debug compare needs the batch-1 OM of the float32 route: not run")
        return
    target = MSIT_CSV
    out = "result/msit_bs1"
    if is_fresh(target, f"{run.model_stem(1)}.om", "shufflenetv2_bs1.onnx", INFO):
        actions.skip(f"{target} is up to date")
        return
    remove(out, target)
    command = ["msit", "debug", "compare", "-gm", "./shufflenetv2_bs1.onnx", "-om", f"./{run.model_stem(1)}.om",
               "-i", image, "-o", out]  # fmt: skip
    # msit is a diagnostic beside the run: its failure is said and the run goes on to its report.
    actions.add("optional", "NOTE: msit debug compare failed (see above): the OM is not compared layer by layer",
                shlex.join(command))  # fmt: skip
    actions.add("check", "layers", out, target)


def compare_int8_layers(actions: Actions, run: Run, batch_size: int, image: str) -> None:
    """int8: the fp32 ONNX file against the int8 model layer by layer on the first image, at the int8 guard's
    threshold: the int8 ONNX file on the CPU, or on an Ascend host AMCT's fake-quant model (the deploy model's
    Ascend operators run only on the NPU)."""
    from shufflenet_ascend.quantization_report import INT8_MIN_MEDIAN_COSINE
    from shufflenet_ascend.quantize import fake_quant_model, int8_onnx

    onnx = f"shufflenetv2_bs{batch_size}.onnx"
    candidate = str(int8_onnx(onnx) if run.stand_in else fake_quant_model(onnx))
    csv_file = run.int8_layer_file()
    if is_fresh(csv_file, onnx, candidate, INFO):
        actions.skip(f"{csv_file} is up to date")
        return
    Path(csv_file).unlink(missing_ok=True)
    command = [run.python, script("compare_layers.py"), onnx, candidate, "--input", image, "--csv", csv_file,
               "--min-cosine", INT8_MIN_MEDIAN_COSINE]  # fmt: skip
    actions.add(
        "tolerate",
        f"NOTE: a layer of {candidate} falls below cosine {INT8_MIN_MEDIAN_COSINE} (the first int8 cannot carry: "
        f"see above, {csv_file} and report.md)",
        f"compare_layers.py failed on {onnx} and {candidate}",
        shlex.join(map(str, command)),
    )


def check_layers(out: str, target: str) -> None:
    """msit's result CSV (OUT/<timestamp>/result_<timestamp>.csv, the newest) copied to TARGET, its first layer
    below the threshold said."""
    found = sorted(Path(out).glob("*/result_*.csv"))
    if not found:
        note(f"NOTE: msit wrote no result CSV under {out}/: the OM is not compared layer by layer")
        return
    rows = read_layer_csv(found[-1])
    shutil.copyfile(found[-1], target)
    note(f"{target} (from {found[-1]}): {first_layer_line(rows, DEFAULT_MIN_COSINE)}")


def check_reference(folder: str, marker: str) -> None:
    scratch = STATE / "scratch" / Path(folder).name
    os.rename(scratch / "result" / "dumpOutput_device0", folder)
    shutil.rmtree(scratch)
    touch(marker)
    if Path(folder).name.startswith("onnx_bs"):
        touch(STATE / "onnx_ref.done")
