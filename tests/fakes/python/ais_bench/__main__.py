"""Fake `python3 -m ais_bench`, as the documentation of Huawei's ais_bench (Ascend/tools, ais-bench_workload)
describes it:

- reads the .bin/.BIN/.npy/.NPY files directly in --input, sorted, then naturally sorted (digit runs as numbers,
  the rest case-insensitively);
- files per batch = the model input's bytes / the first file's bytes (the fake OM, written by the fake atc,
  holds its input shape and its AIPP stage: with it, the input is uint8 HWC, 150,528 bytes an image); a file of
  another size fails as ais_bench does ('arg0 tensorsize ... filesize ... not match'); the last batch is padded
  with copies of its own first file, padded slots not saved;
- without --input: pure inference, --loop batches of generated data, the summary alone (no output files);
- writes --output/--output_dirname/<first input's name cut at its first '.'>_0.<fmt>; TXT = printf %f with single
  spaces, a trailing space and a newline; and --output/<dirname>_summary.json (NPU_compute_time, H2D_latency,
  D2H_latency, throughput = 1000 x batch / NPU_compute_time mean, npu_compute_time_list, pid, filesinfo, args).
Records its command line and the batches it formed in $FAKE_LOG. The scores plant each image's label at a rank
(see ../../common.py). NPU_compute_time is 2 x batch ms per batch: throughput 500 images/s per device (pure
inference: 1.6 x batch ms, 625 images/s).
FAKE_FAIL_DEVICE=<d>: exits 3 on that device."""

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".."))
from common import check_input_size, image_input_bytes, log_call, planted_scores, read_image_input, read_om  # noqa: E402


def natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


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
    parser.add_argument("--display_all_summary", default="false")
    args = parser.parse_args()

    model = read_om(args.model)
    model_batch = int(model["input_shape"].split(":")[1].split(",")[0])
    folder = args.input
    if folder is None:  # pure inference: --loop batches of generated data
        log_call("ais_bench", mode="pure", model_batch=model_batch)
        return write_summary(args, model_batch, [None] * args.loop, {}, ms_per_image=1.6)
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith((".bin", ".npy")))
    names.sort(key=natural_key)
    if not names:
        raise SystemExit(f"[ERROR] no input files in {folder}")
    for name in names:
        check_input_size(os.path.join(folder, name), model, model_batch)
    read_image_input(os.path.join(folder, names[0]), model)  # the first input through the AIPP stage
    per_batch = model_batch * image_input_bytes(model) // os.path.getsize(os.path.join(folder, names[0]))
    batches = []
    for start in range(0, len(names), per_batch):
        batch = names[start : start + per_batch]
        real = len(batch)
        batch = batch + [batch[0]] * (per_batch - real)
        batches.append({"files": batch, "saved": real})
    log_call("ais_bench", batches=batches, model_batch=model_batch, aipp=bool(model.get("aipp")))
    if os.environ.get("FAKE_FAIL_DEVICE") == str(args.device):
        print(f"[ERROR] fake ais_bench: device {args.device} is broken", file=sys.stderr)
        return 3

    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    out_dir = os.path.join(args.output, dirname)
    os.makedirs(out_dir, exist_ok=True)
    filesinfo = {}
    for number, batch in enumerate(batches):
        outfiles = []
        for name in batch["files"][: batch["saved"]]:
            stem = name.split(".", 1)[0]
            path = os.path.join(out_dir, f"{stem}_0.{args.outfmt.lower()}")
            with open(path, "w") as out:
                out.write("".join("%f " % value for value in planted_scores(stem)) + "\n")
            outfiles.append(path)
        filesinfo[number] = {"infiles": [os.path.join(folder, n) for n in batch["files"]], "outfiles": outfiles}
    return write_summary(args, model_batch, batches, filesinfo)


def write_summary(
    args: argparse.Namespace, model_batch: int, batches: list, filesinfo: dict, ms_per_image: float = 2.0
) -> int:
    dirname = args.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    batch_size = args.batchsize or model_batch
    times = [round(ms_per_image * batch_size, 6)] * len(batches)
    stats = {
        "min": times[0],
        "max": times[0],
        "mean": times[0],
        "median": times[0],
        "percentile(99%)": times[0],
        "count": len(times),
    }
    summary = {
        "NPU_compute_time": stats,
        "H2D_latency": stats,
        "D2H_latency": stats,
        "throughput": 1000 * batch_size / stats["mean"],
        "npu_compute_time_list": times,
        "pid": os.getpid(),
        "filesinfo": filesinfo,
        "args": vars(args),
    }
    if args.output:
        with open(os.path.join(args.output, f"{dirname}_summary.json"), "w") as out:
            json.dump(summary, out)
    print(
        f"[INFO] NPU_compute_time (ms): min = {times[0]}, max = {times[0]}, mean = {times[0]}, "
        f"median = {times[0]}, percentile(99%) = {times[0]}"
    )
    print(
        f"[INFO] throughput 1000*batchsize.mean({batch_size})/NPU_compute_time.mean({times[0]}): "
        f"{summary['throughput']}"
    )
    return 0


sys.exit(main())
