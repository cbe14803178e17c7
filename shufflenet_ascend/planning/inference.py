"""The inference stage of one batch size: the tool's command line, its outputs checked, then the accuracy."""

from __future__ import annotations

import os
import shlex
import time
from datetime import UTC, datetime
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import IMAGE_SIZE
from shufflenet_ascend.fileio import sha256_file
from shufflenet_ascend.formats.run_record import Device, RunRecord, dataset_identity, record_path, write_run_record
from shufflenet_ascend.host import project_version
from shufflenet_ascend.model_labels import MODEL_SIZE_KEY, UNKNOWN_WEIGHTS, WEIGHTS_KEY, read_onnx_labels
from shufflenet_ascend.planning.common import (
    INFO,
    PURE_LOOP_ASCEND,
    PURE_SECONDS_STAND_IN,
    STATE,
    Actions,
    Run,
    count_files,
    is_fresh,
    remove,
    script,
    set_stamp,
    touch,
)
from shufflenet_ascend.planning.model import read_atc_record
from shufflenet_ascend.preprocess.bin_sizes import check_bin_sizes
from shufflenet_ascend.shards import streams_per_device


def inference_command(run: Run, batch_size: int, device: int) -> list[object]:
    """The tool's command line for one device, as the guide writes it (sections 5.2 and ais_bench's)."""
    several = len(run.devices) > 1
    info = f"./{run.shard_info(device)}" if several else f"./{INFO}"
    if run.infer_tool == "ais_bench":
        folder, dirname = (f"prep_dataset_device{device}", f"bs{batch_size}_device{device}") if several else (
            "prep_dataset", f"bs{batch_size}")  # fmt: skip
        return [run.python, "-m", "ais_bench", "--model", f"./{run.model_stem(batch_size)}.om",
                "--input", f"./{folder}/", "--output", "./result/", "--output_dirname", dirname,
                "--outfmt", "TXT", "--batchsize", batch_size, "--device", device]  # fmt: skip
    guide = ["-model_type=vision", f"-device_id={device}", f"-batch_size={batch_size}"]
    io = [f"-input_text_path={info}", f"-input_width={IMAGE_SIZE}", f"-input_height={IMAGE_SIZE}",
          "-output_binary=False", "-useDvpp=False"]  # fmt: skip
    if run.infer_tool == "benchmark":
        return [run.benchmark_tool, *guide, f"-om_path={run.model_stem(batch_size)}.om", *io]
    command = [run.python, script("benchmark_ort.py"), *guide, f"-om_path={run.model_stem(batch_size)}.onnx", *io,
               f"-backend={run.backend}", *stand_in_route(run)]  # fmt: skip
    if several:  # each process gets its share of the cores, as streams of one thread each (the stand-in's fastest)
        command += [f"-streams={streams_per_device(run.cores, len(run.devices))}", "-threads=1"]
    return command


def pure_command(run: Run, batch_size: int) -> list[object]:
    """The pure-inference run of BATCH on the first device: how the current guides measure an OM's speed
    (ais_bench --loop, no --input), the old tool's -round mode, or the stand-in's (-round, or -duration on a CPU)."""
    device = run.devices[0]
    om = f"{run.model_stem(batch_size)}.om"
    loop = run.pure_loop or PURE_LOOP_ASCEND
    if run.infer_tool == "ais_bench":
        return [run.python, "-m", "ais_bench", f"--model=./{om}", f"--loop={loop}", f"--batchsize={batch_size}",
                f"--device={device}", "--output=./result/", f"--output_dirname=pure_bs{batch_size}"]  # fmt: skip
    if run.infer_tool == "benchmark":
        return [run.benchmark_tool, f"-round={loop}", f"-om_path={om}", f"-device_id={device}",
                f"-batch_size={batch_size}"]  # fmt: skip
    amount = f"-round={run.pure_loop}" if run.pure_loop else f"-duration={PURE_SECONDS_STAND_IN}"
    return [run.python, script("benchmark_ort.py"), amount, f"-om_path={run.model_stem(batch_size)}.onnx",
            f"-device_id={device}", f"-batch_size={batch_size}", f"-backend={run.backend}",
            *stand_in_route(run)]  # fmt: skip


def stand_in_route(run: Run) -> list[str]:
    return [f"-input_dtype={run.input_dtype}"] if run.input_dtype != "float32" else []


def expected_outputs(run: Run, device: int) -> int:
    """The outputs one device's dump folder must hold: one per image of its share."""
    if len(run.devices) > 1:
        return len(Path(run.shard_info(device)).read_text().splitlines())
    return run.image_count


def stage_inference(actions: Actions, run: Run, batch_size: int) -> None:
    actions.stage(
        f"inference bs{batch_size}",
        "offline inference on prep_dataset/ (guide 5.2), a pure-inference run (the current guides' speed figure), "
        "then top-1..5 accuracy (guide 6.1)",
    )
    # (The int8 model's outputs are another run's: switching --precision redoes the inference.)
    tool = f"stand-in {run.backend}" if run.stand_in else f"{run.infer_tool} {run.soc_version}"
    set_stamp("inference", tool + (" int8" if run.int8 else ""))
    set_stamp("pure_loop", str(run.pure_loop))
    model = f"{run.model_stem(batch_size)}.{run.model_ext}"
    done = STATE / f"inference_bs{batch_size}.done"
    dumps = [f"{run.dump_folder(batch_size, d)}/" for d in run.devices]
    accuracy, predictions, per_class = run.accuracy_outputs(batch_size)
    if not Path(model).is_file():
        raise PipelineError(f"{model}: no such file (it should have been made above)")
    present = all(Path(run.dump_folder(batch_size, d)).is_dir() and Path(run.perf_file(batch_size, d)).is_file()
                  for d in run.devices)  # fmt: skip
    lost = []
    if present and is_fresh(done, INFO, model, STATE / "inference", STATE / "devices"):
        actions.skip(f"the outputs of {model} on the {run.image_count} images are up to date ({' '.join(dumps)})")
        ran = False
        # An output lost since the run is never a quiet miss: the accuracy below runs and fails, naming it.
        for device in run.devices:
            folder, expected = run.dump_folder(batch_size, device), expected_outputs(run, device)
            made = count_files(folder)
            if made != expected:
                lost.append(folder)
                actions.say(
                    f"NOTE: {folder}/ holds {made} outputs for {expected} images (lost since the run): the accuracy "
                    f"fails until they are made again (delete {folder}/ and run again to redo the inference)"
                )
    else:
        # Bins of the wrong size (the other route's) are refused here, not late in the tool.
        check_bin_sizes("prep_dataset", run.input_dtype)
        # A batch size's earlier outputs (dumps, perf files and records of any tool and device) go first.
        b = batch_size
        remove(str(done), accuracy, predictions, per_class, f"{accuracy}.record", f"result/dumpOutput_device*_bs{b}",
               f"result/dumpOutput_device*_bs{b}.json", f"result/bs{b}", f"result/bs{b}_summary.json",
               f"result/bs{b}_record.json", f"result/bs{b}_device*", f"result/perf_vision_batchsize_{b}_device_*.txt",
               f"result/perf_vision_batchsize_{b}_device_*.json",
               *(f"result/dumpOutput_device{d}" for d in run.devices),
               *(f"result/dumpOutput_device{d}.json" for d in run.devices))  # fmt: skip
        Path("result").mkdir(exist_ok=True)
        if len(run.devices) == 1:
            actions.run(inference_command(run, batch_size, run.devices[0]))
        else:
            if run.infer_tool == "ais_bench":  # ais_bench reads a folder: each device gets links to its shard's bins
                for device in run.devices:
                    remove(f"prep_dataset_device{device}")
                    folder = Path(f"prep_dataset_device{device}")
                    folder.mkdir()
                    for line in Path(run.shard_info(device)).read_text().splitlines():
                        name = os.path.basename(line.split()[1])
                        (folder / name).symlink_to(f"../prep_dataset/{name}")
            for device in run.devices:
                actions.add("device", str(device), shlex.join(map(str, inference_command(run, batch_size, device))))
            actions.add("wait")
        (STATE / f"started_bs{batch_size}").write_text(f"{time.time()}\n")
        actions.add("check", "inference", str(batch_size))
        ran = True
    stage_pure(actions, run, batch_size, model)
    outputs_there = all(Path(name).is_file() for name in (predictions, per_class))
    if not ran and not lost and outputs_there and is_fresh(accuracy, done, STATE / "labels"):
        actions.skip(f"{accuracy} is up to date")
    else:
        actions.run([run.python, script("imagenet_acc_eval.py"), *dumps, run.labels, "./", accuracy,
                     "--inputs", f"./{INFO}", "--predictions", predictions, "--per-class", per_class])  # fmt: skip


def stage_pure(actions: Actions, run: Run, batch_size: int, model: str) -> None:
    if run.pure_loop == 0:
        return
    perf = run.pure_perf_file(batch_size)
    done = STATE / f"pure_bs{batch_size}.done"
    if Path(perf).is_file() and is_fresh(done, model, STATE / "inference", STATE / "pure_loop", STATE / "input_dtype"):
        actions.skip(f"the pure-inference figures of {model} are up to date ({perf})")
        return
    remove(str(done), perf, str(record_path(perf)), f"result/pure_bs{batch_size}")
    Path("result").mkdir(exist_ok=True)
    (STATE / f"pure_started_bs{batch_size}").write_text(f"{time.time()}\n")
    actions.run(pure_command(run, batch_size))
    actions.add("check", "inference", str(batch_size), "pure")


def write_tool_record(run: Run, batch_size: int, device: int, mode: str, started: float) -> None:
    """The run record beside a Huawei tool's perf file or summary (the tool's own files stay as they are): which
    tool on which chip ran which OM, built from which weights, on which data. The stand-in writes its own."""
    om = f"{run.model_stem(batch_size)}.om"
    atc = read_atc_record(batch_size, run.int8) or {}
    labels = {} if atc else read_onnx_labels(f"shufflenetv2_bs{batch_size}.onnx")
    if mode == "dataset":
        perf, command = run.perf_file(batch_size, device), inference_command(run, batch_size, device)
        source = f"./{run.shard_info(device)}" if len(run.devices) > 1 else f"./{INFO}"
        images, dataset = expected_outputs(run, device), dataset_identity(source, "prep_dataset/x.bin")
    else:
        perf, command = run.pure_perf_file(batch_size), pure_command(run, batch_size)
        source, dataset = None, None
        images = (run.pure_loop or PURE_LOOP_ASCEND) * batch_size
    record = RunRecord(
        tool=run.infer_tool,
        device=Device("ascend", run.soc_version, (device,), chips_per_card=run.chips_per_card),
        model_file=om,
        model_sha256=sha256_file(om),
        batch_size=batch_size,
        mode=mode,
        images=images,
        weights=str(atc.get("weights") or labels.get(WEIGHTS_KEY, UNKNOWN_WEIGHTS)),
        input_dtype=run.input_dtype,
        dataset=dataset,
        dataset_source=source,
        started=datetime.fromtimestamp(started, UTC).replace(microsecond=0).isoformat(),
        project_version=project_version(),
        command=tuple(map(str, command)),
        model_size=atc.get("model_size") or labels.get(MODEL_SIZE_KEY),
        **({"precision": "int8", "calibration": atc.get("calibration")} if run.int8 else {}),
    )
    write_run_record(record_path(perf), record)


def check_inference(run: Run, batch_size: int, mode: str = "dataset") -> None:
    """Each device's outputs renamed to the batch size's folder, and one output per image of its share: none may be
    silently missing from the accuracy. A Huawei tool's run gets its run record."""
    finished = time.time()
    if mode == "pure":
        perf = run.pure_perf_file(batch_size)
        if not Path(perf).is_file():
            raise PipelineError(f"the pure-inference run wrote no {perf}")
        started = float((STATE / f"pure_started_bs{batch_size}").read_text())
        if not run.stand_in:
            write_tool_record(run, batch_size, run.devices[0], "pure", started)
        touch(STATE / f"pure_bs{batch_size}.done")
        return
    started = float((STATE / f"started_bs{batch_size}").read_text())
    for device in run.devices:
        folder = run.dump_folder(batch_size, device)
        if run.infer_tool != "ais_bench":
            written = f"result/dumpOutput_device{device}"
            if not Path(written).is_dir():
                raise PipelineError(f"device {device}: the tool wrote no {written}/")
            os.rename(written, folder)
            if record_path(written).is_file():  # the stand-in's record of the dump folder goes with it
                os.rename(record_path(written), record_path(folder))
        if not Path(folder).is_dir():
            raise PipelineError(f"device {device}: no output folder {folder}/")
        if not Path(run.perf_file(batch_size, device)).is_file():
            raise PipelineError(f"device {device}: no performance file {run.perf_file(batch_size, device)}")
        expected = expected_outputs(run, device)
        made = count_files(folder)
        if made != expected:
            raise PipelineError(f"device {device}: {folder}/ holds {made} outputs for {expected} images")
        if not run.stand_in:
            write_tool_record(run, batch_size, device, "dataset", started)
    if run.infer_tool == "ais_bench" and len(run.devices) > 1:
        remove("prep_dataset_device*")
    (STATE / f"wall_bs{batch_size}").write_text(f"{run.image_count} {finished - started:.3f}\n")
    touch(STATE / f"inference_bs{batch_size}.done")
