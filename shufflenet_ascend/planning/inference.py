"""The inference stage of one batch size: the tool's command line, its outputs checked, then the accuracy."""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import IMAGE_SIZE
from shufflenet_ascend.planning.common import (
    INFO,
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


def inference_command(run: Run, batch_size: int, device: int) -> list[object]:
    """The tool's command line for one device, as the guide writes it (sections 5.2 and ais_bench's)."""
    several = len(run.devices) > 1
    info = f"./{run.shard_info(device)}" if several else f"./{INFO}"
    if run.infer_tool == "ais_bench":
        folder, dirname = (f"prep_dataset_device{device}", f"bs{batch_size}_device{device}") if several else (
            "prep_dataset", f"bs{batch_size}")  # fmt: skip
        return [run.python, "-m", "ais_bench", "--model", f"./shufflenetv2_bs{batch_size}.om",
                "--input", f"./{folder}/", "--output", "./result/", "--output_dirname", dirname,
                "--outfmt", "TXT", "--batchsize", batch_size, "--device", device]  # fmt: skip
    guide = ["-model_type=vision", f"-device_id={device}", f"-batch_size={batch_size}"]
    io = [f"-input_text_path={info}", f"-input_width={IMAGE_SIZE}", f"-input_height={IMAGE_SIZE}",
          "-output_binary=False", "-useDvpp=False"]  # fmt: skip
    if run.infer_tool == "benchmark":
        return [run.benchmark_tool, *guide, f"-om_path=shufflenetv2_bs{batch_size}.om", *io]
    command = [run.python, script("benchmark_ort.py"), *guide, f"-om_path=shufflenetv2_bs{batch_size}.onnx", *io,
               f"-backend={run.backend}"]  # fmt: skip
    if several:  # each process gets its share of the cores, as streams of one thread each (the stand-in's fastest)
        command += [f"-streams={max(1, run.cores // len(run.devices))}", "-threads=1"]
    return command


def stage_inference(actions: Actions, run: Run, batch_size: int) -> None:
    actions.stage(
        f"inference bs{batch_size}",
        "offline inference on prep_dataset/ (guide 5.2), then top-1..5 accuracy (guide 6.1)",
    )
    set_stamp("inference", f"stand-in {run.backend}" if run.stand_in else run.infer_tool)
    model = f"shufflenetv2_bs{batch_size}.{'onnx' if run.stand_in else 'om'}"
    done = STATE / f"inference_bs{batch_size}.done"
    dumps = [f"{run.dump_folder(batch_size, d)}/" for d in run.devices]
    accuracy = f"result_bs{batch_size}.json"
    if not Path(model).is_file():
        raise PipelineError(f"{model}: no such file (it should have been made above)")
    present = all(Path(run.dump_folder(batch_size, d)).is_dir() and Path(run.perf_file(batch_size, d)).is_file()
                  for d in run.devices)  # fmt: skip
    if present and is_fresh(done, INFO, model, STATE / "inference", STATE / "devices"):
        actions.skip(f"the outputs of {model} on the {run.image_count} images are up to date ({' '.join(dumps)})")
        ran = False
    else:
        # A batch size's earlier outputs (dumps and perf files of any tool and device) go first.
        b = batch_size
        remove(str(done), accuracy, f"result/dumpOutput_device*_bs{b}", f"result/bs{b}", f"result/bs{b}_summary.json",
               f"result/bs{b}_device*", f"result/perf_vision_batchsize_{b}_device_*.txt",
               *(f"result/dumpOutput_device{d}" for d in run.devices))  # fmt: skip
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
    if not ran and is_fresh(accuracy, done, STATE / "labels"):
        actions.skip(f"{accuracy} is up to date")
    else:
        actions.run([run.python, script("imagenet_acc_eval.py"), *dumps, run.labels, "./", accuracy,
                     *(["--allow-missing"] if run.allow_missing else [])])  # fmt: skip


def check_inference(run: Run, batch_size: int) -> None:
    """Each device's outputs renamed to the batch size's folder, and one output per image of its share: none may be
    silently missing from the accuracy."""
    finished = time.time()
    for device in run.devices:
        folder = run.dump_folder(batch_size, device)
        if run.infer_tool != "ais_bench":
            written = f"result/dumpOutput_device{device}"
            if not Path(written).is_dir():
                raise PipelineError(f"device {device}: the tool wrote no {written}/")
            os.rename(written, folder)
        if not Path(folder).is_dir():
            raise PipelineError(f"device {device}: no output folder {folder}/")
        if not Path(run.perf_file(batch_size, device)).is_file():
            raise PipelineError(f"device {device}: no performance file {run.perf_file(batch_size, device)}")
        expected = run.image_count
        if len(run.devices) > 1:
            expected = len(Path(run.shard_info(device)).read_text().splitlines())
        made = count_files(folder)
        if made != expected:
            raise PipelineError(f"device {device}: {folder}/ holds {made} outputs for {expected} images")
    if run.infer_tool == "ais_bench" and len(run.devices) > 1:
        remove("prep_dataset_device*")
    started = float((STATE / f"started_bs{batch_size}").read_text())
    (STATE / f"wall_bs{batch_size}").write_text(f"{run.image_count} {finished - started:.3f}\n")
    touch(STATE / f"inference_bs{batch_size}.done")
