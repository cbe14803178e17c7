"""Fake `python3 -m ais_bench`, as the documentation of Huawei's ais_bench (Ascend/tools, ais-bench_workload)
and the behaviours its own test suite checks (static single-input models) describe it:

- --input: a folder (the .bin/.BIN/.npy/.NPY files directly in it, sorted, then naturally sorted: digit runs as
  numbers, the rest case-insensitively), one .bin/.npy file, or a comma-separated list of files (in that order);
- files per batch = the model input's bytes / the first file's bytes (the fake OM, written by the fake atc,
  holds its input shape and its AIPP stage: with it, the input is uint8 HWC, 150,528 bytes an image); a file of
  another size fails as ais_bench does ('arg0 tensorsize ... filesize ... not match'); the last batch is padded
  with copies of its own first file, padded slots not saved;
- without --input: pure inference, --loop batches of generated data (--pure_data_type zero, the default, or
  random); with --output each loop's outputs are written (pure_infer_data_<loop>_0.<fmt>): identical files for
  zeros, different ones for random data; H2D_latency and D2H_latency count 1 (the input is copied once);
- writes --output/--output_dirname/<input's name cut at its first '.'>_0.<fmt>; TXT = printf %f with single
  spaces, a trailing space and a newline; and --output/<dirname>_summary.json (NPU_compute_time, H2D_latency,
  D2H_latency, throughput = 1000 x batch / NPU_compute_time mean, npu_compute_time_list, pid, filesinfo, args);
- prints the summary block: the Performance Summary rule, the NPU_compute_time line (with --display_all_summary
  true also H2D_latency before and D2H_latency after it), the throughput line, the closing rule;
- --debug true: one 'cost :' line per inference, the --warmup_count warm-up inferences included; --warmup_count
  -1 is an error;
- --device 0,1: every device runs the inputs and prints its own block (the stand-in's choice for the files, as
  the facts do not say: <dirname>_device<d>/ and <dirname>_device<d>_summary.json per device).
Records its command line and the batches it formed in $FAKE_LOG. The scores plant each image's label at a rank
(see ../../common.py). NPU_compute_time is 2 x batch ms per batch: throughput 500 images/s per device (pure
inference: 1.6 x batch ms, 625 images/s).
FAKE_FAIL_DEVICE=<d>: exits 3 on that device."""

import argparse
import json
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
from common import (  # noqa: E402
    check_input_size,
    image_input_bytes,
    input_bytes,
    log_call,
    planted_scores,
    read_image_input,
    read_om,
)

PURE_INPUT = "pure_infer_data"


def natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def input_files(spec: str) -> list:
    if os.path.isdir(spec):
        names = sorted(n for n in os.listdir(spec) if n.lower().endswith((".bin", ".npy")))
        names.sort(key=natural_key)
        return [os.path.join(spec, name) for name in names]
    return spec.split(",")


def main() -> int:
    parser = argparse.ArgumentParser(prog="ais_bench")
    parser.add_argument("--model", "-m", required=True)
    parser.add_argument("--input", "-i")
    parser.add_argument("--output", "-o")
    parser.add_argument("--output_dirname")
    parser.add_argument("--outfmt", default="BIN", choices=["NPY", "BIN", "TXT"])
    parser.add_argument("--loop", "-l", type=int, default=1)
    parser.add_argument("--warmup_count", type=int, default=1)
    parser.add_argument("--device", "-d", default="0")
    parser.add_argument("--batchsize", type=int)
    parser.add_argument("--debug", default="false")
    parser.add_argument("--pure_data_type", default="zero", choices=["zero", "random"])
    parser.add_argument("--display_all_summary", default="false")
    args = parser.parse_args()
    if args.warmup_count < 0:
        print(f"[ERROR] warmup_count {args.warmup_count} is invalid", file=sys.stderr)
        return 1

    model = read_om(args.model)
    model_batch = int(model["input_shape"].split(":")[1].split(",")[0])
    devices = [int(device) for device in str(args.device).split(",")]
    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    if args.input is None:  # pure inference: --loop batches of generated data
        log_call("ais_bench", mode="pure", model_batch=model_batch)
        for device in devices:
            folder = dirname if len(devices) == 1 else f"{dirname}_device{device}"
            filesinfo = write_pure_outputs(args, folder)
            write_summary(args, device, folder, model_batch, [None] * args.loop, filesinfo, ms_per_image=1.6)
        return 0
    files = input_files(args.input)
    if not files:
        raise SystemExit(f"[ERROR] no input files in {args.input}")
    for path in files:
        check_input_size(path, model, model_batch)
    read_image_input(files[0], model)  # the first input through the AIPP stage
    per_batch = model_batch * image_input_bytes(model) // input_bytes(files[0])
    batches = []
    for start in range(0, len(files), per_batch):
        batch = files[start : start + per_batch]
        real = len(batch)
        batch = batch + [batch[0]] * (per_batch - real)
        batches.append({"files": [os.path.basename(path) for path in batch], "paths": batch, "saved": real})
    log_call("ais_bench", batches=batches, model_batch=model_batch, aipp=bool(model.get("aipp")))
    if os.environ.get("FAKE_FAIL_DEVICE") in map(str, devices):
        print(f"[ERROR] fake ais_bench: device {os.environ['FAKE_FAIL_DEVICE']} is broken", file=sys.stderr)
        return 3
    for device in devices:
        folder = dirname if len(devices) == 1 else f"{dirname}_device{device}"
        filesinfo = {}
        for number, batch in enumerate(batches):
            outfiles = []
            for path in batch["paths"][: batch["saved"]]:
                stem = os.path.basename(path).split(".", 1)[0]
                outfiles.append(write_output(args, folder, f"{stem}_0", planted_scores(stem)))
            filesinfo[number] = {"infiles": batch["paths"], "outfiles": [name for name in outfiles if name]}
        write_summary(args, device, folder, model_batch, batches, filesinfo)
    return 0


def write_output(args: argparse.Namespace, folder: str, name: str, values: list) -> str:
    """One output file (TXT: printf %f, a trailing space); without --output nothing is written."""
    if not args.output:
        return ""
    os.makedirs(os.path.join(args.output, folder), exist_ok=True)
    path = os.path.join(args.output, folder, f"{name}.{args.outfmt.lower()}")
    with open(path, "w") as out:
        out.write("".join("%f " % value for value in values) + "\n")
    return path


def write_pure_outputs(args: argparse.Namespace, folder: str) -> dict:
    """Each loop's output: of zeros the same scores every loop; of random data, scores that differ."""
    filesinfo = {}
    for loop in range(args.loop):
        if args.pure_data_type == "random":
            generator = random.Random(loop)
            values = [generator.uniform(-10.0, 10.0) for _ in range(1000)]
        else:
            values = [0.5] * 1000
        written = write_output(args, folder, f"{PURE_INPUT}_{loop}_0", values)
        filesinfo[loop] = {"infiles": [PURE_INPUT], "outfiles": [written] if written else []}
    return filesinfo


def write_summary(
    args: argparse.Namespace,
    device: int,
    dirname: str,
    model_batch: int,
    batches: list,
    filesinfo: dict,
    ms_per_image: float = 2.0,
) -> None:
    batch_size = args.batchsize or model_batch
    times = [round(ms_per_image * batch_size, 6)] * len(batches)
    if args.debug.lower() == "true":
        for _ in range(args.warmup_count + len(batches)):
            print(f"[DEBUG] model aclExec cost : {times[0]:f}")

    def stats(count: int) -> dict:
        return {
            "min": times[0],
            "max": times[0],
            "mean": times[0],
            "median": times[0],
            "percentile(99%)": times[0],
            "count": count,
        }

    copies = stats(len(times) if args.input else 1)
    summary = {
        "NPU_compute_time": stats(len(times)),
        "H2D_latency": copies,
        "D2H_latency": copies,
        "throughput": 1000 * batch_size / times[0],
        "npu_compute_time_list": times,
        "pid": os.getpid(),
        "filesinfo": filesinfo,
        "args": {**vars(args), "device": device},
    }
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        with open(os.path.join(args.output, f"{dirname}_summary.json"), "w") as out:
            json.dump(summary, out)

    def line(name: str) -> str:
        return (
            f"[INFO] {name} (ms): min = {times[0]}, max = {times[0]}, mean = {times[0]}, median = {times[0]}, "
            f"percentile(99%) = {times[0]}"
        )

    every = args.display_all_summary.lower() == "true"
    print("[INFO] -----------------Performance Summary------------------")
    if every:
        print(line("H2D_latency"))
    print(line("NPU_compute_time"))
    if every:
        print(line("D2H_latency"))
    print(
        f"[INFO] throughput 1000*batchsize.mean({batch_size})/NPU_compute_time.mean({times[0]}): "
        f"{summary['throughput']}"
    )
    print("[INFO] ------------------------------------------------------")


sys.exit(main())
