"""The benchmark tool's command line: its gflags-style flags (``-flag=value``), their checks and the help text.

The stand-in takes the flags of Huawei's benchmark tool as the guide writes them, plus a few of its own
(``-backend``, ``-streams``, ``-threads``, ``-model_size``, ``-seed``); ``pipeline`` runs what they ask for.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import platform
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shufflenet_ascend import bounds
from shufflenet_ascend.cli import EXIT_STATUS_HELP, HelpFormatter, PipelineError
from shufflenet_ascend.contract import DEFAULT_MODEL_SIZE, INPUT_DTYPES, MODEL_SIZES
from shufflenet_ascend.safe_outputs import Output, refuse_unsafe_outputs
from shufflenet_ascend.standin.backends import BACKENDS, DEFAULT_BACKEND, TORCH_BACKENDS

PROG = "benchmark_ort.py"
USAGE = f"usage: {PROG} -flag=value ..."
FLAG_FORMS = "also --flag=value and -flag value; booleans: True/False/1/0, or -flag and -noflag"
_TRUE_WORDS = frozenset({"true", "1", "yes", "t", "y"})
_FALSE_WORDS = frozenset({"false", "0", "no", "f", "n"})
_HELP_FLAGS = frozenset({"h", "help", "helpfull", "helpshort"})
AUTO_INPUT_DTYPE = "auto"

DESCRIPTION = """\
A CPU stand-in for Huawei's benchmark tool (the guide's step 5.2). On an Ascend host the guide runs
benchmark.x86_64 on the OM model; everywhere else this stand-in takes its place: it accepts the same flags, runs
the ONNX model that the OM was converted from (or the PyTorch model itself, see -backend), and writes the very
same files, relative to the current directory, so that the accuracy and performance steps cannot tell the two
apart:

- result/dumpOutput_device<id>/<key>_1.txt: one line of the image's output values, each printed as %.8e (reads
  back as the very same float32); or <key>_1.bin, raw float32, with -output_binary=True
- result/perf_vision_batchsize_<B>_device_<id>.txt: dataset mode, five lines
- result/PureInfer_perf_of_<model stem>_in_device_<id>.txt: pure-inference mode (-round=N)

The guide's command lines, with the ONNX file in place of the OM file:

    python benchmark_ort.py -model_type=vision -device_id=0 -batch_size=1 \\
        -om_path=shufflenetv2_bs1.onnx -input_text_path=./shufflenetv2_prep_bin.info \\
        -input_width=224 -input_height=224 -output_binary=False -useDvpp=False
    python benchmark_ort.py -round=20 -om_path=shufflenetv2_bs1.onnx -device_id=0 -batch_size=1

Before any inference the output folders are checked (a file where a folder must go, a folder where the perf
file must go, a folder that cannot be written: one line naming it) and the dump folder is emptied of an earlier
run's outputs (<key>_<k>.txt|bin|npy files and temporaries of interrupted writes; it logs how many; other files
stay). The real tool adds to the folder instead; run_all.sh clears it for the tool.

What the perf figures mean for the stand-in (this machine's CPU, not an Ascend chip), with several batches in
flight at once:

- [e2e] throughputRate: images / wall time of the whole dataset run (from the first read to the last dump
  written, after the warm-up); latency: that wall time in ms.
- [data read] images / time spent reading the .bin files (straight into the batch array);
  moduleLatency = ms per image.
- [preprocess] the .bin files are already preprocessed: images / time spent completing the batch arrays
  (padding the last one), so this rate is very high; moduleLatency = ms per image.
- [infer] throughputRate: images / wall time from handing the first batch to the model to the last batch's
  outputs (waiting for input included); Interface throughputRate: samples the model ran (padding included) /
  wall time during which at least one inference call was in flight (overlapping calls counted once: the model's
  own rate on this CPU, as the tool's figure is one chip's); moduleLatency: ms per image: each batch's time from
  a stream taking it (the wait for a free stream not counted) to its outputs, summed over batches, / images
  (with N streams the batches share the cores, so this is about N / Interface rate).
- [post] batches / time the writer thread spent formatting and writing the dump files (the tool counts batches
  here); moduleLatency = ms per batch.

Reading, inference and writing overlap: the next batch is read while the backend's streams compute the batches
in flight, and a writer thread takes the outputs in groups of 32 images; each dump file is written once, to a
temporary name, and renamed. -warmup=N untimed rounds of two batches per stream (default 1) precede the clock.
The read and write times are wall-clock: they include waiting for a core.

Pure-inference mode (-round=N batches, or -duration=SECONDS, of seeded random input, with the same streams and
backend): ave_throughputRate = samples / wall time with at least one batch in flight; ave_latency = that time / N,
ms per batch (as the tool's: throughput x latency = batch size).
"""


AIS_BENCH_DESCRIPTION = """\
ais_bench's command line (Huawei's current tool, python3 -m ais_bench) runs too, with only the program name
changed, for a static model of one input: --model, --input, --output, --output_dirname, --outfmt, --batchsize,
--loop, --warmup_count, --device, --debug, --pure_data_type, --display_all_summary (also -m, -i, -o, -l, -d) mean
what they mean to ais_bench. An .om model runs as the .onnx file beside it (the stand-in says so). The current
guide's command lines:

    python benchmark_ort.py --model ./shufflenetv2_bs1.om --input ./prep_dataset/ \\
        --output ./result/ --outfmt TXT --batchsize 1
    python benchmark_ort.py --model=./shufflenetv2_bs16.om --loop=100 --batchsize=16 \\
        --output ./result/

--input is a folder of .bin/.npy files, one such file, or a comma-separated list of them; one output per input
file: <output>/<dirname>/<key>_0.txt (printf %f values, a trailing space; .bin raw float32 with --outfmt BIN, the
default, or .npy with NPY; the key is the input's name cut at its first '.'). Without --input: pure inference,
--loop batches of zeros (--pure_data_type zero) or of random values 0..255 (random), each batch's outputs written
as pure_infer_data_<n>_0.<fmt>. <dirname> is --output_dirname or the start time (%Y_%m_%d-%H_%M_%S); without
--output nothing is written (as ais_bench), the figures are printed.

It prints ais_bench's summary block, line for line (the Performance Summary rule, the NPU_compute_time line, with
--display_all_summary true the H2D_latency line before it and the D2H_latency line after it, the line
'[INFO] throughput 1000*batchsize.mean(B)/NPU_compute_time.mean(T): X', the closing rule), then a line of its
own: the stand-in's wall-clock throughput. <output>/<dirname>_summary.json holds ais_bench's keys:
NPU_compute_time (each batch's inference time in ms on the CPU: min, max, mean, median, percentile(99%), count);
H2D_latency and D2H_latency (0: no copy to a device is made; counted as ais_bench counts them: each batch, 1 in
pure inference); throughput = 1000 x batch size / mean NPU_compute_time, as ais_bench defines it (one batch at a
time: with several streams the CPU runs faster than this); npu_compute_time_list, pid, filesinfo, args; and the
stand-in's own key wall_clock_throughput: images per second of wall-clock time with its streams computing at once
(a dataset run from the first read to the last output written, the [e2e] rate; pure inference while a batch was
in flight). --debug true prints one 'cost :' line per inference on stderr, the warm-up's included; --warmup_count
N runs N warm-up inferences (one batch each), as ais_bench.

--device 0,1 runs one process per device, each on a contiguous shard of the inputs (their images add up to the
inputs) with its share of the cores (streams = cores / devices, one thread each, as run_all.sh's shards), and
writes <dirname>_device<d>/ and <dirname>_device<d>_summary.json per device; the blocks are printed in the order of
the devices. What the stand-in cannot do (dynamic shapes, an AIPP config, ais_bench's NPU tools: --dymBatch,
--dymHW, --dymDims, --dymShape, --outputSize, --aipp_config, --acl_json_path, --profiler, --dump, ...) is refused
in one line, exit status 2.
"""

RECORD_DESCRIPTION = """\
Every run leaves a run record beside its perf file or summary (the tools' own files stay exactly as they are):
result/perf_vision_batchsize_<B>_device_<id>.json (also result/dumpOutput_device<id>.json for the dump folder,
and PureInfer_perf_of_<stem>_in_device_<id>.json), or <output>/<dirname>_record.json: the tool (stand-in), backend,
this CPU and the cores used, streams x threads, the model file, its sha256 and its weights (from the ONNX file's
metadata; the checkpoint's sha256 or the seed for the torch backends), batch size, input dtype, mode, the dataset's
identity and source, the images inferred, the start time, the project version, the command line and the latency
per batch (min, mean, median, p90, p99, max, and every batch's time), and the wall-clock throughput (images per
second with the streams at once: a dataset run's [e2e] rate, or pure inference's).

Nothing is replaced silently: a dump folder or perf file whose record names another model (other weights), backend
or dataset, or that has no record (another tool's, or an interrupted run's), is refused with one line unless
-overwrite=true; a run of the same model, backend and dataset replaces it. One run per result folder and device
at a time: a second one refuses at once, naming the first (its pid and command).

Timing: -warmup=N untimed rounds of two batches per stream first (default 1, as
ais_bench's --warmup_count); then every batch's inference time is kept (from a stream taking it to its outputs)
and its min, mean, median, p90, p99 and max are printed at the end and written to the record. Pure inference
runs -round=N batches or for -duration=SECONDS.

Inputs: float32 CHW bins (the guide's, 4*C*H*W bytes) or uint8 HWC BGR bins (C*H*W bytes, the OM's input with
ATC's AIPP stage), converted to float32 NCHW before the model: the same tensor, the same outputs. -input_dtype=auto
(the default) takes the dtype from the first input's size (the two sizes cannot be confused); every input is
checked before any inference, and one of another size is refused naming it.
"""


@dataclass(frozen=True)
class BenchmarkFlags:
    model_type: str = "vision"
    device_id: int = 0
    batch_size: int = 1
    om_path: str = ""
    input_text_path: str = ""
    input_width: int = 0
    input_height: int = 0
    output_binary: bool = False
    useDvpp: bool = False  # noqa: N815 -- the tool's own flag name
    round: int = 0
    backend: str = DEFAULT_BACKEND
    streams: int = 0
    threads: int = 0
    model_size: str = DEFAULT_MODEL_SIZE
    seed: int = 0
    input_dtype: str = AUTO_INPUT_DTYPE
    warmup: int = 1
    duration: float = 0.0
    overwrite: bool = False
    # ais_bench's own flags (an ais_bench-style run: its files, its folder layout)
    model: str = ""
    input: str = ""
    output: str = ""
    output_dirname: str = ""
    outfmt: str = "BIN"
    device: str = ""  # ais_bench's --device: one id, or a comma-separated list run as one command
    debug: bool = False
    pure_data_type: str = "zero"
    display_all_summary: bool = False

    @property
    def ais_bench_style(self) -> bool:
        """Given ais_bench's names for the model, inputs or outputs: the run writes ais_bench's files."""
        return bool(self.model or self.input or self.output or self.output_dirname)

    @property
    def device_ids(self) -> tuple[int, ...]:
        """The devices of the run: ``--device`` (one id or a comma-separated list), else ``-device_id``."""
        return parse_device_list(self.device) if self.device else (self.device_id,)


def parse_device_list(text: str) -> tuple[int, ...]:
    """ais_bench's ``--device 0`` or ``--device 0,1,2``: device ids, each at most once."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise PipelineError(f"--device={text}: expected a device id (0, 1, ...) or a comma-separated list (0,1)")
    ids = tuple(int(part) for part in parts)
    if not all(bounds.DEVICE_ID.accepts(number) for number in ids):
        raise PipelineError(f"--device={text}: each device id must be {bounds.DEVICE_ID.describe()}")
    if len(set(ids)) != len(ids):
        raise PipelineError(f"--device={text}: a device is named twice")
    return ids


# ais_bench's flags that the stand-in cannot honour, and why: one line, exit 2 (nothing is run or written).
UNSUPPORTED_AIS_BENCH_FLAGS = {
    "dymBatch": "a dynamic-batch OM",
    "dymHW": "a dynamic image size OM",
    "dymDims": "dynamic dimensions",
    "dymShape": "dynamic shapes",
    "dymShape_range": "dynamic shapes",
    "auto_set_dymshape_mode": "dynamic shapes",
    "auto_set_dymdims_mode": "dynamic dimensions",
    "outputSize": "outputs of dynamic size",
    "aipp_config": "an OM with a dynamic AIPP stage",
    "acl_json_path": "the ACL runtime's configuration",
    "profiler": "the NPU's profiler",
    "dump": "the NPU's operator dump",
    "energy_consumption": "the NPU's power readings",
    "npu_id": "the NPU's power readings",
    "output_batchsize_axis": "outputs split along another axis than 0",
}


# ais_bench's names (and short forms) for the flags that mean the same as the 2021 tool's.
FLAG_ALIASES = {
    "batchsize": "batch_size",
    "loop": "round",
    "l": "round",
    "warmup_count": "warmup",
    "d": "device",
    "m": "model",
    "i": "input",
    "o": "output",
}
AIS_BENCH_FLAGS = ("model", "input", "output", "output_dirname", "outfmt")
OUTFMTS = ("TXT", "BIN", "NPY")
PURE_DATA_TYPES = ("zero", "random")


FLAG_HELP: dict[str, str] = {
    "model_type": "kind of model; the tool's 'vision' (image classification) is the only one supported",
    "device_id": "Ascend device id; the stand-in only uses it in the result file names (dumpOutput_device<id>, "
    "..._device_<id>.txt)",
    "batch_size": "images per inference; must equal a static-batch model's batch, any value for a dynamic batch",
    "om_path": "the model: the .onnx file the OM was converted from (an .om file needs the Ascend tool); with "
    "-backend=torch|torch-fp16 a PyTorch checkpoint or the word 'random' (seeded random weights)",
    "input_text_path": "info file listing the preprocessed .bin inputs ('<index> <path> <width> <height>' lines, "
    "paths relative to the current folder); given: dataset mode",
    "input_width": "width W of each input; every .bin must hold 3*H*W float32 values (default: the model's)",
    "input_height": "height H of each input (default: the model's)",
    "output_binary": "True: dump raw float32 <key>_1.bin files; False: one text line <key>_1.txt per image",
    "useDvpp": "decode JPEGs on the Ascend DVPP; only False is possible here (inputs are preprocessed .bin files)",
    "round": "pure-inference mode (without -input_text_path): number of timed batches on random input, at least 1 "
    "(ais_bench's --loop: 0 is refused by either name)",
    "backend": "stand-in only: onnxruntime (the reference numerics), openvino (CPU, THROUGHPUT hint, async infer "
    "queue, f32 precision set explicitly), torch or torch-fp16 (the PyTorch model: -om_path is a checkpoint or the "
    "word random, with -model_size and -seed; torch-fp16 is an emulation of fp16 inference, not the chip). All "
    "write the same dump through the same writer",
    "streams": "stand-in only: batches computed at once (default 0: one per core this process may use, or cores / "
    "-threads; taskset shares the cores among several processes). The outputs do not depend on -streams or "
    "-threads with onnxruntime (bit for bit); PyTorch's kernels sum in another order with another thread count "
    "(differences near 1e-6)",
    "threads": "stand-in only: intra-op threads of each stream (default 0: cores / streams, at least 1)",
    "model_size": "stand-in only, torch backends: ShuffleNetV2+ size of the checkpoint: "
    f"{', '.join(MODEL_SIZES[:-1])} or {MODEL_SIZES[-1]}",
    "seed": "stand-in only, torch backends with -om_path=random: the seed of the random weights (as "
    "shufflenetv2_pth2onnx.py random ... --seed N)",
    "input_dtype": "stand-in only: auto (from the first input's size), float32 (CHW, the guide's bins) or uint8 "
    "(HWC BGR bins, the OM's input with ATC's AIPP stage; converted to float32 NCHW before the model)",
    "warmup": "untimed warm-up rounds (two batches per stream each) before the clock starts; 0: none. As "
    "ais_bench's --warmup_count (with ais_bench's flags): warm-up inferences, one batch each",
    "duration": "pure inference for this many seconds (instead of -round=N); at least one batch",
    "overwrite": "replace a dump folder or perf file whose record names another model, backend or dataset, or "
    "that has no record (default: refuse, naming it)",
    "model": "ais_bench: the model (--model, -m); an .om file runs as the .onnx file beside it",
    "input": "ais_bench: a folder of .bin/.npy inputs, read in natural order, one .bin or .npy file, or a "
    "comma-separated list of files (--input, -i); one output per input file; absent: pure inference",
    "output": "ais_bench: where the outputs and <dirname>_summary.json go (--output, -o); absent: nothing written",
    "output_dirname": "ais_bench: the outputs' folder name under --output (default: the start time); a name that "
    "leads out of --output (../x) is refused",
    "outfmt": "ais_bench: the dump format, TXT (printf %f), BIN (raw float32) or NPY",
    "device": "ais_bench: the device id, or a list such as 0,1 run as one command (--device, -d): the images "
    "split into one contiguous shard per device, the cores shared between them (-streams = cores / devices, "
    "-threads=1, as run_all.sh's shards), one summary and one printed block per device",
    "debug": "ais_bench: True: one 'cost :' line (ms) per inference on stderr, warm-up inferences included",
    "pure_data_type": "ais_bench, pure inference: zero (the default: zeros) or random (fresh random input "
    "0..255 per loop, seeded by the loop's number); with --output each loop's outputs are written",
    "display_all_summary": "ais_bench: True: also print the H2D_latency and D2H_latency lines (0 here: no copy "
    "to a device is made)",
}
FLAG_ALIAS_HELP = (
    "ais_bench's names: "
    + ", ".join(f"--{alias} = -{name}" for alias, name in FLAG_ALIASES.items() if len(alias) > 1)
    + "; short forms -m -i -o -l -d; --device also takes a list (0,1)"
)


def format_help() -> str:
    """The usage line, what the stand-in does and writes, every flag with its type and default, the exit
    statuses; wrapped to the terminal (at most 100 columns), as the argparse scripts' help."""
    width = min(shutil.get_terminal_size().columns, 100) - 2
    formatter = HelpFormatter(PROG, width=width)
    formatter.add_text(DESCRIPTION)
    formatter.add_text(RECORD_DESCRIPTION)
    formatter.add_text(AIS_BENCH_DESCRIPTION)
    lines = [USAGE, "", formatter.format_help().rstrip("\n"), "", f"flags ({FLAG_FORMS}):"]
    for field in dataclasses.fields(BenchmarkFlags):
        default = field.default
        shown = f"{default!r}" if isinstance(default, str) else str(default)
        bound = FLAG_BOUNDS.get(field.name)
        limits = "" if bound is None else f", {bound.describe().split(' ', 3)[-1]}"
        lines.append(f"  -{field.name} ({_flag_kind(field.name).__name__}, default {shown}{limits})")
        lines.append(textwrap.fill(FLAG_HELP[field.name], width, initial_indent=" " * 6, subsequent_indent=" " * 6))
    lines.append(textwrap.fill(FLAG_ALIAS_HELP, width, initial_indent="  ", subsequent_indent="  "))
    lines += ["  -help", "      show this help and exit", "", EXIT_STATUS_HELP]
    return "\n".join(lines) + "\n"


# The numbers' ranges (shufflenet_ascend.bounds): a value outside is refused where it is parsed, naming the flag.
# -round (ais_bench's --loop) counts batches: 0 given is refused by both names alike (unset means dataset mode).
FLAG_BOUNDS: dict[str, bounds.Bound] = {
    "device_id": bounds.DEVICE_ID,
    "batch_size": bounds.BATCH_SIZE,
    "input_width": bounds.INPUT_SIDE,
    "input_height": bounds.INPUT_SIDE,
    "round": bounds.ROUNDS,
    "streams": bounds.STREAMS,
    "threads": bounds.THREADS,
    "seed": bounds.SEED,
    "warmup": bounds.WARMUP,
    "duration": bounds.DURATION_S,
}


def _flag_kind(name: str) -> type:
    return type(getattr(BenchmarkFlags(), name))


def _convert_flag(name: str, text: str, shown: str | None = None) -> object:
    """``text`` as the value of flag ``name``; an error names the flag as typed (``shown``: an alias)."""
    kind = _flag_kind(name)
    flag = shown or f"-{name}"
    if name in FLAG_BOUNDS:
        return FLAG_BOUNDS[name].parse(text, flag)
    if kind is bool:
        word = text.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise PipelineError(f"{flag}={text}: expected True or False")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise PipelineError(f"{flag}={text}: expected an integer") from None
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise PipelineError(f"{flag}={text}: expected a number") from None
        return value
    return text


def wants_help(argv: Sequence[str]) -> bool:
    return any(token.startswith("-") and token.lstrip("-") in _HELP_FLAGS for token in argv)


def parse_flags(argv: Sequence[str]) -> BenchmarkFlags:
    """Parse ``-flag=value``, ``--flag=value``, ``-flag value`` (and ``-flag`` / ``-noflag`` for booleans)."""
    names = {field.name for field in dataclasses.fields(BenchmarkFlags)}
    values: dict[str, object] = {}
    position = 0
    while position < len(argv):
        token = argv[position]
        position += 1
        if not token.startswith("-") or token.strip("-") == "":
            raise PipelineError(f"unexpected argument {token!r}: the tool takes only flags, written -name=value")
        name, has_value, text = token.lstrip("-").partition("=")
        name = FLAG_ALIASES.get(name, name)
        if (
            name not in names
            and name.startswith("no")
            and name[2:] in names
            and _flag_kind(name[2:]) is bool
            and not has_value
        ):
            values[name[2:]] = False
            continue
        if name in UNSUPPORTED_AIS_BENCH_FLAGS:
            raise PipelineError(
                f"{token.partition('=')[0]}: ais_bench's flag for {UNSUPPORTED_AIS_BENCH_FLAGS[name]}; the stand-in "
                "runs a static ONNX model with one input on the CPU and cannot do this"
            )
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=1)
            hint = f" (did you mean -{close[0]}?)" if close else ""
            raise PipelineError(f"unknown flag {token!r}{hint}; see -help")
        if not has_value:
            if _flag_kind(name) is bool:
                next_word = argv[position].lower() if position < len(argv) else ""
                if next_word in _TRUE_WORDS | _FALSE_WORDS:
                    text = argv[position]
                    position += 1
                else:
                    text = "true"
            elif position < len(argv):
                text = argv[position]
                position += 1
            else:
                raise PipelineError(f"flag {token!r} needs a value")
        values[name] = _convert_flag(name, text, token.partition("=")[0])
    return BenchmarkFlags(**values)  # type: ignore[arg-type]


def check_flags(flags: BenchmarkFlags) -> None:
    """Reject what the stand-in cannot do, before loading anything."""
    if flags.model_type != "vision":
        raise PipelineError(f"-model_type={flags.model_type}: the stand-in supports only -model_type=vision")
    if flags.backend not in BACKENDS:
        raise PipelineError(f"-backend={flags.backend}: expected one of {', '.join(BACKENDS)}")
    if flags.ais_bench_style:
        mixed = [name for name in ("om_path", "input_text_path") if getattr(flags, name)]
        if mixed:
            raise PipelineError(
                f"-{mixed[0]} is the 2021 tool's flag, --model/--input/--output ais_bench's: use one tool's names "
                "(--model with --input, or -om_path with -input_text_path)"
            )
        if not flags.model:
            raise PipelineError("--model is required (the .om file, run as the .onnx file beside it, or the .onnx)")
        if flags.outfmt.upper() not in OUTFMTS:
            raise PipelineError(f"--outfmt={flags.outfmt}: expected one of {', '.join(OUTFMTS)}")
        if flags.pure_data_type not in PURE_DATA_TYPES:
            raise PipelineError(f"--pure_data_type={flags.pure_data_type}: expected zero or random")
        if flags.output and flags.output_dirname:  # the summary <output>/<dirname>_summary.json stays in --output
            output = Path(flags.output)
            refuse_unsafe_outputs([Output(output / f"{flags.output_dirname}_summary.json", under=output)])
    elif not flags.om_path:
        raise PipelineError("-om_path is required (the .onnx model; a checkpoint or 'random' for a torch backend)")
    elif Path(flags.om_path).suffix.lower() == ".om":
        raise PipelineError(
            f"{flags.om_path}: an OM model runs only on an Ascend device with Huawei's benchmark tool "
            f"(benchmark.{platform.machine()}); give the stand-in the ONNX file it was converted from, "
            f"e.g. -om_path={Path(flags.om_path).with_suffix('.onnx')}"
        )
    if flags.device:
        devices = parse_device_list(flags.device)
        if len(devices) > 1 and not flags.ais_bench_style:
            raise PipelineError(f"--device={flags.device}: a list of devices runs with ais_bench's flags (--model)")
    model_path = flags.model or flags.om_path
    if flags.backend in TORCH_BACKENDS:
        if flags.model_size not in MODEL_SIZES:
            raise PipelineError(f"-model_size={flags.model_size}: expected one of {', '.join(MODEL_SIZES)}")
        if Path(model_path).suffix.lower() in (".onnx", ".om"):
            raise PipelineError(
                f"-backend={flags.backend} runs the PyTorch model: give -om_path a checkpoint "
                f"(.pth.tar) or the word random, not the model file {model_path}"
            )
    if flags.useDvpp:
        raise PipelineError(
            "-useDvpp=True decodes JPEGs on the Ascend's DVPP; the stand-in reads preprocessed "
            ".bin files only: pass -useDvpp=False"
        )
    if flags.batch_size < 1:
        raise PipelineError(f"-batch_size={flags.batch_size}: must be at least 1")
    if flags.device_id < 0:
        raise PipelineError(f"-device_id={flags.device_id}: must be 0 or more")
    if flags.input_width < 0 or flags.input_height < 0:
        raise PipelineError("-input_width and -input_height must be positive")
    if flags.threads < 0:
        raise PipelineError(f"-threads={flags.threads}: must be 0 (automatic) or more")
    if flags.streams < 0:
        raise PipelineError(f"-streams={flags.streams}: must be 0 (automatic) or more")
    if flags.input_dtype not in (AUTO_INPUT_DTYPE, *INPUT_DTYPES):
        raise PipelineError(f"-input_dtype={flags.input_dtype}: expected auto, {' or '.join(INPUT_DTYPES)}")
    if flags.warmup < 0:
        raise PipelineError(f"-warmup={flags.warmup}: must be 0 (none) or more")
    if flags.round < 0 or flags.duration < 0:
        raise PipelineError("-round and -duration must be positive")
    if flags.round and flags.duration:
        raise PipelineError(f"-round={flags.round} and -duration={flags.duration:g}: give one (count or time)")
    if flags.ais_bench_style:
        return  # without --input: pure inference, --loop batches (default 1, as ais_bench)
    if not flags.input_text_path and flags.round < 1 and not flags.duration:
        raise PipelineError(
            "give -input_text_path=<info file> (dataset mode) or -round=<N> or -duration=<seconds> (pure inference)"
        )
