"""run_all.sh's decisions: what each stage runs, what it skips, and whether its outputs are complete.

run_all.sh drives and this module decides. ``options ARGS...`` checks run_all's options and prints shell
assignments; ``start STAGE [BATCH]`` prepares a stage (stale outputs removed, shard folders linked) and prints its
actions, one per line, fields separated by tabs:

    stage NAME TEXT        a stage begins (its header)
    say TEXT               a line to print as it is
    run COMMAND            a command, shell-quoted (shlex.join): printed, then run exactly as printed
    run_in FOLDER COMMAND  the same, run in FOLDER
    device D COMMAND       one device's command, started at once beside the others; "wait" waits for them all
    tolerate TEXT1 TEXT2 COMMAND
                           a command whose exit status 1 (a missed threshold) prints TEXT1; other failures stop
                           the run with TEXT2
    check ARGS             run ``check ARGS``: the outputs are verified, renamed and recorded

The run's settings live in .run_all/run.json; stamps and markers in .run_all/ (make's rule: an output is fresh when
it is newer than every input, and a stamp is rewritten only when its value changes).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError, make_parser
from shufflenet_ascend.contract import BIN_BYTES, CHIPS_PER_310_CARD, IMAGE_SIZE, SMALL_CHECKPOINT_NAME
from shufflenet_ascend.fileio import atomic_write_text, format_bytes
from shufflenet_ascend.host import available_cores, cpu_name
from shufflenet_ascend.keys import IMAGE_EXTENSIONS
from shufflenet_ascend.perf import measured_cards, read_perf_files
from shufflenet_ascend.preprocess.folder import bins_needed_bytes
from shufflenet_ascend.preprocess.record import list_images

PROG = "run_all.sh"
REPO_DIR = Path(__file__).resolve().parent.parent
STATE = Path(".run_all")
INFO = "shufflenetv2_prep_bin.info"
DUMP_BYTES_PER_IMAGE = 16_000  # one text output of 1000 scores (%.8e: about 15,000 bytes), rounded up
TOOLS = ("auto", "benchmark", "ais_bench", "stand-in")
BACKENDS = ("onnxruntime", "openvino")
COMPARES = ("none", "first", "all")


@dataclasses.dataclass
class Run:
    """The run's settings: the options, then what the stages found (tool, chip, weights, dataset)."""

    workdir: str
    checkpoint: str
    dataset: str
    labels: str
    batch_sizes: list[int]
    devices: list[int]
    tool_option: str
    soc_version: str
    backend: str
    compare: str
    python: str = "python3"
    arch: str = ""
    cores: int = 1
    cpu_model: str = ""
    benchmark_tool: str = ""
    infer_tool: str = ""
    tool_text: str = ""
    random_weights: bool = False
    image_count: int = 0
    allow_missing: bool = False

    @property
    def cpu_label(self) -> str:
        return f"{self.cpu_model}, {self.cores} cores, {self.backend}"

    @property
    def stand_in(self) -> bool:
        return self.infer_tool == "stand-in"

    def save(self) -> None:
        atomic_write_text(STATE / "run.json", json.dumps(dataclasses.asdict(self), indent=1))

    @classmethod
    def load(cls) -> Run:
        return cls(**json.loads((STATE / "run.json").read_text()))

    # Where each tool leaves a batch size's outputs.
    def dump_folder(self, batch_size: int, device: int) -> str:
        if self.infer_tool == "ais_bench":
            return f"result/bs{batch_size}" if len(self.devices) == 1 else f"result/bs{batch_size}_device{device}"
        return f"result/dumpOutput_device{device}_bs{batch_size}"

    def perf_file(self, batch_size: int, device: int) -> str:
        if self.infer_tool == "ais_bench":
            return f"{self.dump_folder(batch_size, device)}_summary.json"
        return f"result/perf_vision_batchsize_{batch_size}_device_{device}.txt"

    def perf_files(self) -> list[str]:
        return [self.perf_file(b, d) for b in self.batch_sizes for d in self.devices]

    def shard_info(self, device: int) -> str:
        return f"shufflenetv2_prep_bin_device{device}.info"

    def compare_batches(self) -> list[int]:
        return {"none": [], "first": self.batch_sizes[:1], "all": self.batch_sizes}[self.compare]

    def comparison_files(self) -> list[str]:
        if self.stand_in:
            files = [f"compare_bs{b}_onnx_vs_torch.json" for b in self.compare_batches()]
            return files + ["compare_fp16_vs_torch.json"] if files else []
        return [f"compare_bs{b}_om_vs_onnx.json" for b in self.compare_batches()]


class Actions:
    """The lines ``start`` prints for run_all.sh to carry out, in order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, kind: str, *fields: str) -> None:
        if any("\t" in field or "\n" in field for field in fields):
            raise PipelineError(f"a tab or line break in {fields!r}: cannot be passed to {PROG}")
        self.lines.append("\t".join((kind, *fields)))

    def stage(self, name: str, text: str) -> None:
        self.add("stage", name, text)

    def say(self, text: str) -> None:
        self.add("say", f"    {text}")

    def skip(self, text: str) -> None:
        self.add("say", f"    skipped: {text}")

    def run(self, command: Sequence[object]) -> None:
        self.add("run", shlex.join(map(str, command)))


def note(text: str) -> None:
    print(f"    {text}", flush=True)


def loud(*lines: str) -> None:
    bar = "    " + "*" * 96
    print("\n".join([bar, *(f"    {line}" for line in lines), bar]), file=sys.stderr, flush=True)


def script(name: str) -> str:
    return str(REPO_DIR / name)


# ----------------------------------------------------------------------------------------------------------------
# Freshness: make's rule, with stamps holding the values outputs depend on.


def is_fresh(output: str | os.PathLike[str], *inputs: str | os.PathLike[str]) -> bool:
    """OUTPUT exists and is newer than every INPUT that exists."""
    try:
        made = os.stat(output).st_mtime_ns
    except FileNotFoundError:
        return False
    return all(not os.path.exists(path) or made > os.stat(path).st_mtime_ns for path in inputs)


def set_stamp(name: str, value: str) -> None:
    """.run_all/NAME holds VALUE; rewritten (so newer than its outputs, which go stale) only when VALUE changes."""
    path = STATE / name
    if not path.is_file() or path.read_text() != value + "\n":
        atomic_write_text(path, value + "\n")


def touch(path: str | os.PathLike[str]) -> None:
    Path(path).touch()


def remove(*patterns: str) -> None:
    for pattern in patterns:
        for path in Path(".").glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def count_bins(folder: str) -> int:
    return sum(1 for path in Path(folder).glob("*.bin") if path.is_file()) if Path(folder).is_dir() else 0


def count_files(folder: str) -> int:
    return sum(1 for path in Path(folder).iterdir() if path.is_file())


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# options


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = make_parser(
        "Runs the ShuffleNetV2+ Ascend guide end to end in the work folder: export -> ATC -> preprocess -> info "
        "file -> inference -> accuracy -> comparison -> performance -> report.md. Stages whose outputs exist and "
        "are newer than their inputs are skipped, so a re-run is cheap; a failing stage stops the run and is "
        "named. One run at a time per work folder (a second one exits at once).\n\n"
        "Each option mirrors an environment variable, given in brackets. Also: PYTHON (default python3), "
        "ASCEND_ROOT for env.sh.",
        usage="bash run_all.sh [options]",
        epilog="Outputs (the guide's names where it has one): shufflenetv2_bs<B>.onnx, shufflenetv2_bs<B>.om, "
        "prep_dataset/, shufflenetv2_prep_bin.info, result/perf_vision_batchsize_<B>_device_<D>.txt, "
        "result_bs<B>.json, perf.png, and report.md. Outputs are kept per batch size: "
        "result/dumpOutput_device<D>_bs<B>/ (the old tool's and the stand-in's result/dumpOutput_device<D>/, "
        "renamed after each batch size) or result/bs<B>/ and result/bs<B>_summary.json (ais_bench). "
        "Comparison: result/reference/, result/reference_fp16/, result/onnx_bs<B>/, compare_*.json. "
        "Bookkeeping (settings, stamps, lock) in .run_all/.\n\n"
        "A command of a stage that fails ends the run with that command's exit status (below: the same in every "
        "script of the project; 1 when compare_accuracy.py finds a real checkpoint more than 1 point below the "
        "published accuracy). run_all's own checks (options, tools, dataset, free space, a device failing, a "
        "tool leaving outputs missing) end it with 2, one line naming the stage and the problem; 3 when its "
        "bookkeeping (.run_all/, renamed outputs) cannot be written.",
    )
    parser.allow_abbrev = False
    option = parser.add_argument
    option("--checkpoint", metavar="FILE", default=env("CHECKPOINT", ""),
           help=f"PyTorch checkpoint [CHECKPOINT]. Default: {SMALL_CHECKPOINT_NAME} in the work folder or beside "
           "this script when present, else seeded random weights (accuracy is then chance-level)")  # fmt: skip
    option("--dataset", metavar="DIR", default=env("DATASET", ""),
           help="folder holding the validation images themselves [DATASET]. Default: a generated demo set in "
           "WORKDIR/demo/val")  # fmt: skip
    option("--labels", metavar="FILE", default=env("LABELS", ""),
           help="val_label.txt for the dataset [LABELS]. Default: val_label.txt beside DATASET. A dataset with "
           "fewer images than label lines is a subset run: missing images count as misses")  # fmt: skip
    option("--batch-sizes", metavar='"B..."', default=env("BATCH_SIZES", "1 4 8 16 32"),
           help='batch sizes to export and run [BATCH_SIZES]. Default: "1 4 8 16 32"')  # fmt: skip
    option("--workdir", metavar="DIR", default=env("WORKDIR", "."),
           help="where every output goes [WORKDIR]. Default: the current folder")  # fmt: skip
    option("--device-id", metavar="N", default=env("DEVICE_ID", "0"),
           help="the Ascend device (NPU) that runs inference [DEVICE_ID]. Default: 0")  # fmt: skip
    option("--devices", metavar='"D..."', default=env("DEVICES", ""),
           help='several devices at once, e.g. "0 1 2 3" [DEVICES]: the images are split into one contiguous shard '
           "per device, all devices run concurrently, and the measured card throughput is printed. Overrides "
           "--device-id")  # fmt: skip
    option("--tool", metavar="T", default=env("TOOL", "auto"),
           help="inference tool [TOOL]: auto (default), benchmark (Huawei's benchmark.<arch>), ais_bench (python3 -m "
           "ais_bench) or stand-in (benchmark_ort.py on the ONNX file, on the CPU). auto: the OM file and "
           "benchmark.<arch> -> benchmark; else the OM file and an importable ais_bench -> ais_bench; else the "
           "stand-in")  # fmt: skip
    option("--soc-version", metavar="V", default=env("SOC_VERSION", "auto"),
           help="ATC's --soc_version [SOC_VERSION]. Default: auto = \"Ascend\" + the chip name of the first device in "
           "'npu-smi info' (Ascend310, Ascend310P3, ...), Ascend310 without npu-smi")  # fmt: skip
    option("--backend", metavar="B", default=env("BACKEND", "onnxruntime"),
           help="the stand-in's backend [BACKEND]: onnxruntime (default) or openvino")  # fmt: skip
    option("--compare", metavar="C", default=env("COMPARE", "first"),
           help="output comparison [COMPARE]: none, first (default: the first batch size) or all. On an Ascend host "
           "the OM's outputs against the ONNX stand-in's; elsewhere the stand-in's against the PyTorch reference, "
           "and the PyTorch fp16 preview against the reference")  # fmt: skip
    return parser


def parse_options(argv: Sequence[str]) -> Run:
    parser = build_parser()
    parser.exit_on_error = False
    try:
        args, extra = parser.parse_known_args(argv)
    except argparse.ArgumentError as exc:
        raise PipelineError(f"option {exc.argument_name} needs a value (see --help)") from None
    if extra:
        what = (
            f"unknown option {extra[0].split('=')[0]}"
            if extra[0].startswith("-")
            else f"unexpected argument '{extra[0]}'"
        )
        raise PipelineError(f"{what} (see --help)")
    batch_sizes = args.batch_sizes.split()
    if not batch_sizes:
        raise PipelineError("--batch-sizes: no batch size given")
    for value in batch_sizes:
        if not re.fullmatch(r"[1-9][0-9]*", value):
            raise PipelineError(f"--batch-sizes: '{value}' is not a positive integer")
    if not re.fullmatch(r"[0-9]+", args.device_id):
        raise PipelineError(f"--device-id: '{args.device_id}' is not a non-negative integer")
    devices = args.devices.split() or [args.device_id]
    for value in devices:
        if not re.fullmatch(r"[0-9]+", value):
            raise PipelineError(f"--devices: '{value}' is not a non-negative integer")
    if len(set(devices)) != len(devices):
        raise PipelineError(f"--devices: '{args.devices}' names a device twice")
    for name, value, allowed in (("tool", args.tool, TOOLS), ("backend", args.backend, BACKENDS),
                                 ("compare", args.compare, COMPARES)):  # fmt: skip
        if value not in allowed:
            raise PipelineError(f"--{name}: '{value}' is not one of {', '.join(allowed)}")
    if not re.fullmatch(r"[A-Za-z0-9_]+", args.soc_version):
        raise PipelineError(f"--soc-version: '{args.soc_version}' is not a chip name such as Ascend310")
    try:
        os.makedirs(args.workdir, exist_ok=True)
    except OSError:
        raise PipelineError(f"--workdir: cannot create {args.workdir}") from None

    def absolute(path: str) -> str:
        return os.path.abspath(path) if path else ""

    return Run(
        workdir=os.path.abspath(args.workdir),
        checkpoint=absolute(args.checkpoint),
        dataset=absolute(args.dataset),
        labels=absolute(args.labels),
        batch_sizes=[int(b) for b in batch_sizes],
        devices=[int(d) for d in devices],
        tool_option=args.tool,
        soc_version=args.soc_version,
        backend=args.backend,
        compare=args.compare,
        python=os.environ.get("PYTHON", "python3"),
    )


def options(argv: Sequence[str]) -> None:
    """Print the assignments run_all.sh evaluates: the work folder, the batch sizes, the settings (JSON)."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(f"RUN_ALL_HELP={shlex.quote(build_parser().format_help())}")
        return
    run = parse_options(argv)
    print(f"WORKDIR={shlex.quote(run.workdir)}")
    print(f"BATCH_LIST=({' '.join(map(str, run.batch_sizes))})")
    print(f"RUN_ALL_SETTINGS={shlex.quote(json.dumps(dataclasses.asdict(run)))}")


# ----------------------------------------------------------------------------------------------------------------
# The stages


def chip_from_npu_smi() -> tuple[str, str]:
    """The chip name of npu-smi's first device (its first row: "| <id>  <Name>  | <Health> | ...")."""
    if not shutil.which("npu-smi"):
        return "Ascend310", "npu-smi not found: the seed guide's chip"
    done = subprocess.run(["npu-smi", "info"], capture_output=True, text=True)
    if done.returncode != 0:
        first = (done.stdout + done.stderr).splitlines()[:1] or [""]
        raise PipelineError(f"npu-smi info failed: {first[0]} (give --soc-version)")
    for line in done.stdout.splitlines():
        cells = line.split("|")
        if (
            len(cells) > 2
            and re.fullmatch(r"\s*[0-9]+\s+[0-9A-Za-z]+\s*", cells[1])
            and re.search("[A-Za-z]", cells[2])
        ):
            return "Ascend" + cells[1].split()[1], "the first device in 'npu-smi info'"
    raise PipelineError("npu-smi info lists no device (give --soc-version, e.g. Ascend310)")


def stage_environment(actions: Actions) -> None:
    run = Run(**json.loads(os.environ["RUN_ALL_SETTINGS"]))
    actions.stage("environment", "source env.sh; choose the chip name and the inference tool")
    run.arch, run.cores, run.cpu_model = platform.machine(), available_cores(), cpu_name()
    atc = shutil.which("atc")
    local_tool = Path(f"benchmark.{run.arch}")
    if local_tool.is_file() and os.access(local_tool, os.X_OK):
        run.benchmark_tool = f"./{local_tool}"
    else:
        run.benchmark_tool = shutil.which(f"benchmark.{run.arch}") or ""
    import_check = [run.python, "-c", "import ais_bench"]
    have_ais_bench = subprocess.run(import_check, capture_output=True).returncode == 0
    if run.soc_version == "auto":
        run.soc_version, soc_reason = chip_from_npu_smi()
    else:
        soc_reason = "given"

    missing_om = [f"shufflenetv2_bs{b}.om" for b in run.batch_sizes if not Path(f"shufflenetv2_bs{b}.om").is_file()]
    have_om = bool(atc) or not missing_om
    om_problem = f"atc not found and {' '.join(missing_om)} missing"
    om_how = "atc makes the OM files" if atc else "the OM files are there"
    tool = run.tool_option
    if tool == "auto":
        if have_om and run.benchmark_tool:
            run.infer_tool, reason = "benchmark", f"auto: {om_how} and {run.benchmark_tool} is there"
        elif have_om and have_ais_bench:
            run.infer_tool = "ais_bench"
            reason = f"auto: {om_how} and the ais_bench package is importable; no benchmark.{run.arch}"
        elif have_om:
            run.infer_tool, reason = "stand-in", "auto: OM files but no tool able to run them"
            loud(
                f"WARNING: {om_how}, but no tool can run them:",
                f"neither benchmark.{run.arch} (work folder or PATH) nor the ais_bench package",
                f"('{shlex.join(import_check)}' fails). Inference runs on the CPU stand-in: the NPU is NOT used.",
                f"Install ais_bench or copy benchmark.{run.arch} here, or pass --tool stand-in to silence this.",
            )
        else:
            run.infer_tool = "stand-in"
            reason = "auto: no OM files (atc not found): benchmark_ort.py runs the ONNX files on the CPU"
    else:
        if tool == "benchmark" and not run.benchmark_tool:
            raise PipelineError(
                f"--tool benchmark: benchmark.{run.arch} not found in the work folder {run.workdir} or on PATH"
            )
        if tool == "ais_bench" and not have_ais_bench:
            raise PipelineError(
                f"--tool ais_bench: '{shlex.join(import_check)}' fails (ais_bench not installed for {run.python})"
            )
        if tool != "stand-in" and not have_om:
            raise PipelineError(f"--tool {tool} needs the OM files: {om_problem}")
        run.infer_tool, reason = tool, f"given (--tool {tool})"
    run.tool_text = {
        "benchmark": f"{run.benchmark_tool} (Huawei's benchmark tool, OM on the NPU)",
        "ais_bench": f"{run.python} -m ais_bench (OM on the NPU)",
        "stand-in": f"benchmark_ort.py (CPU stand-in, {run.backend}, ONNX file)",
    }[run.infer_tool]
    run.save()

    actions.say(f"work folder: {run.workdir}")
    actions.say(f"atc: {atc or 'not found'}")
    actions.say(f"soc version: {run.soc_version} ({soc_reason})")
    ais_text = "importable" if have_ais_bench else "not importable"
    actions.say(f"benchmark.{run.arch}: {run.benchmark_tool or 'not found'}; ais_bench: {ais_text}")
    actions.say(f"inference tool: {run.infer_tool}: {run.tool_text}; why: {reason}")
    names_only = f" (names only: the stand-in runs on {run.cpu_model}, {run.cores} cores)" if run.stand_in else ""
    actions.say(f"devices: {' '.join(map(str, run.devices))}{names_only}")
    if run.backend != "onnxruntime" and not run.stand_in:
        actions.say(f"note: --backend {run.backend} only applies to the stand-in; {run.infer_tool} runs the OM")


def stage_checkpoint(actions: Actions, run: Run) -> None:
    actions.stage("checkpoint", "choose the weights")
    if not run.checkpoint:
        for candidate in (Path(run.workdir, SMALL_CHECKPOINT_NAME), REPO_DIR / SMALL_CHECKPOINT_NAME):
            if candidate.is_file():
                run.checkpoint = str(candidate)
                break
    run.random_weights = not run.checkpoint
    if run.random_weights:
        set_stamp("checkpoint", "random weights, seed 0")
        actions.say("weights: seeded random (seed 0): accuracy will be chance-level")
        loud(
            f"WARNING: no checkpoint ({SMALL_CHECKPOINT_NAME} not found, --checkpoint not given): the model runs on",
            "seeded RANDOM weights. Accuracy will be chance-level and MEANINGLESS; only the plumbing is tested.",
        )
    else:
        if not Path(run.checkpoint).is_file():
            raise PipelineError(f"checkpoint {run.checkpoint}: no such file")
        try:
            digest = sha256(run.checkpoint)
        except OSError:
            raise PipelineError(f"checkpoint {run.checkpoint}: cannot be read") from None
        set_stamp("checkpoint", f"sha256 {digest}")
        actions.say(f"checkpoint: {run.checkpoint} (sha256 {digest[:16]}...)")
    run.save()


def stage_dataset(actions: Actions, run: Run) -> None:
    actions.stage("dataset", "choose the validation images and labels; check the free space")
    if not run.dataset:
        run.dataset = os.path.join(run.workdir, "demo", "val")
        run.save()
        if Path(run.dataset).is_dir():
            actions.skip(f"demo dataset {run.dataset} exists")
        else:
            actions.run([run.python, script("make_demo_dataset.py"), os.path.join(run.workdir, "demo")])
    actions.add("check", "dataset")


def check_dataset(run: Run) -> None:
    if not Path(run.dataset).is_dir():
        raise PipelineError(f"dataset folder {run.dataset}: no such folder")
    images = list_images(run.dataset)[0]
    if not images:
        hint = "give the folder that holds the images themselves"
        if Path(run.dataset, "val").is_dir():
            hint = f"it has a val/ folder: did you mean --dataset {run.dataset}/val?"
        extensions = " ".join(sorted(IMAGE_EXTENSIONS))
        raise PipelineError(f"dataset folder {run.dataset} holds no images ({extensions}); {hint}")
    run.labels = run.labels or os.path.join(os.path.dirname(run.dataset), "val_label.txt")
    if not Path(run.labels).is_file():
        raise PipelineError(f"label file {run.labels}: no such file (give --labels)")
    label_count = sum(1 for line in Path(run.labels).read_text(errors="replace").splitlines() if line.strip())
    # The dataset's identity: an image replaced, added or removed changes it; a copy with its mtimes does not.
    set_stamp("dataset", "\n".join(f"{path.name}\t{path.stat().st_size}\t{path.stat().st_mtime_ns}" for path in images))
    set_stamp("labels", f"sha256 {sha256(run.labels)}")
    run.image_count = len(images)
    note(f"images: {run.dataset} ({run.image_count} images)")
    note(f"labels: {run.labels} ({label_count} lines)")
    run.allow_missing = run.image_count < label_count
    if run.allow_missing:
        note(
            f"subset run: {run.image_count} images of {label_count} labelled; the others count as misses "
            "(--allow-missing)"
        )
    if len(run.devices) > run.image_count:
        raise PipelineError(
            f"--devices: {len(run.devices)} devices for {run.image_count} images: every device needs at least one image"
        )
    run.save()
    check_free_space(run)


def check_free_space(run: Run) -> None:
    """The bins still to make (the preprocessor's own estimate), and one text output per image for each batch size
    (and compared dump) whose outputs are not there yet. df, not statvfs: what the user's df says is what counts."""
    missing_bins = max(0, bins_needed_bytes(run.dataset, "prep_dataset", "overwrite")) // BIN_BYTES
    dumps_to_make = sum(1 for b in run.batch_sizes if not (STATE / f"inference_bs{b}.done").exists())
    if run.compare != "none" and not any((STATE / name).exists() for name in ("reference.done", "onnx_ref.done")):
        dumps_to_make += 2
    bins_needed = missing_bins * BIN_BYTES
    dumps_needed = run.image_count * dumps_to_make * DUMP_BYTES_PER_IMAGE
    needed = (
        f"{format_bytes(bins_needed + dumps_needed)} ({missing_bins} bins x {BIN_BYTES:,} bytes = "
        f"{format_bytes(bins_needed)}, text outputs for {dumps_to_make} runs about {format_bytes(dumps_needed)})"
    )
    df = subprocess.run(["df", "-P", "-B1", "."], capture_output=True, text=True)
    rows = df.stdout.splitlines()
    free = int(rows[1].split()[3]) if df.returncode == 0 and len(rows) > 1 else None
    if free is not None and free < bins_needed + dumps_needed:
        raise PipelineError(
            f"not enough free space in {run.workdir}: this run needs about {needed}; {format_bytes(free)} free"
        )
    note(f"disk: needs about {needed}; {format_bytes(free or 0)} free")


def stage_export(actions: Actions, run: Run) -> None:
    actions.stage("export", "PyTorch -> ONNX, opset 11, one file per batch size (guide 3.1)")
    source = "random" if run.random_weights else run.checkpoint
    for batch_size in run.batch_sizes:
        onnx_file = f"shufflenetv2_bs{batch_size}.onnx"
        if is_fresh(onnx_file, STATE / "checkpoint"):
            actions.skip(f"{onnx_file} is up to date")
        else:
            actions.run([run.python, script("shufflenetv2_pth2onnx.py"), source, onnx_file, batch_size])


def stage_atc(actions: Actions, run: Run) -> None:
    actions.stage("atc", f"ONNX -> OM with ATC for {run.soc_version} (guide 3.2)")
    if not shutil.which("atc"):
        missing = [b for b in run.batch_sizes if not Path(f"shufflenetv2_bs{b}.om").is_file()]
        actions.skip(
            "atc not found (no CANN toolkit)" + ("" if missing else ": the OM files present are used as they are")
        )
        return
    set_stamp("soc_version", run.soc_version)
    for b in run.batch_sizes:
        if is_fresh(f"shufflenetv2_bs{b}.om", f"shufflenetv2_bs{b}.onnx", STATE / "soc_version"):
            actions.skip(f"shufflenetv2_bs{b}.om is up to date")
        else:
            size = IMAGE_SIZE
            actions.run(
                [
                    "atc",
                    "--framework=5",
                    f"--model=./shufflenetv2_bs{b}.onnx",
                    "--input_format=NCHW",
                    f"--input_shape=image:{b},3,{size},{size}",
                    f"--output=shufflenetv2_bs{b}",
                    "--log=debug",
                    f"--soc_version={run.soc_version}",
                ]  # fmt: skip
            )


def stage_preprocess(actions: Actions, run: Run) -> None:
    actions.stage("preprocess", "images -> prep_dataset/*.bin (guide 4.2)")
    if preprocess_done(run):
        actions.skip(f"prep_dataset/ is complete for the {run.image_count} images of {run.dataset}")
        return
    (STATE / "preprocess.done").unlink(missing_ok=True)
    # The preprocessor's record in prep_dataset/ knows which image each bin came from: it resumes, redoes the bins
    # of changed images, removes those of removed images, and clears bins of another dataset.
    actions.run([run.python, script("imagenet_torch_preprocess.py"), run.dataset, "./prep_dataset",
                 "--if-other-dataset", "overwrite"])  # fmt: skip
    actions.add("check", "preprocess")


def preprocess_done(run: Run) -> bool:
    return is_fresh(STATE / "preprocess.done", STATE / "dataset") and count_bins("prep_dataset") == run.image_count


def check_preprocess(run: Run) -> None:
    bins_made = count_bins("prep_dataset")
    if bins_made != run.image_count:
        raise PipelineError(f"prep_dataset/ holds {bins_made} bins for {run.image_count} images of {run.dataset}")
    touch(STATE / "preprocess.done")


def stage_info(actions: Actions, run: Run) -> None:
    actions.stage("info", f"prep_dataset/ -> {INFO} (guide 4.3)")
    lines = len(Path(INFO).read_text().splitlines()) if Path(INFO).is_file() else -1
    if is_fresh(INFO, STATE / "preprocess.done") and lines == run.image_count:
        actions.skip(f"{INFO} is up to date")
    else:
        actions.run([run.python, script("get_info.py"), "bin", "./prep_dataset", f"./{INFO}", IMAGE_SIZE, IMAGE_SIZE])
    actions.add("check", "info")


def check_info(run: Run) -> None:
    """Several devices: contiguous shards of the info file, one per device (sizes differ by at most one line)."""
    set_stamp("devices", " ".join(map(str, run.devices)))
    if len(run.devices) == 1:
        return
    if all(is_fresh(run.shard_info(d), INFO, STATE / "devices") for d in run.devices):
        note(f"skipped: the {len(run.devices)} shards shufflenetv2_prep_bin_device<D>.info are up to date")
        return
    lines = Path(INFO).read_text().splitlines(keepends=True)
    start = 0
    for index, device in enumerate(run.devices):
        end = len(lines) * (index + 1) // len(run.devices)
        atomic_write_text(run.shard_info(device), "".join(lines[start:end]))
        note(f"device {device}: lines {start + 1}..{end} of {INFO} -> {run.shard_info(device)}")
        start = end


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
            flags = [f"-backend={variant}", f"-om_path={weights}", "-model_size=Small", "-seed=0", "-batch_size=16"]
            reference(folder, marker, [INFO, str(STATE / "checkpoint")], flags)
        for b in batches:
            compare("result/reference/", candidate_folder(run, b), f"compare_bs{b}_onnx_vs_torch.json",
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
            compare(f"{folder}/", candidate_folder(run, b), f"compare_bs{b}_om_vs_onnx.json", marker,
                    str(STATE / f"inference_bs{b}.done"))  # fmt: skip


def check_reference(folder: str, marker: str) -> None:
    scratch = STATE / "scratch" / Path(folder).name
    os.rename(scratch / "result" / "dumpOutput_device0", folder)
    shutil.rmtree(scratch)
    touch(marker)
    if Path(folder).name.startswith("onnx_bs"):
        touch(STATE / "onnx_ref.done")


def measured_card_lines(run: Run) -> list[str]:
    """Several devices: the card's throughput as measured, beside the guide's extrapolation (one chip's rate x the
    chips of a card; none for a CPU, where it means nothing)."""
    lines = []
    for b in run.batch_sizes:
        files = [run.perf_file(b, d) for d in run.devices]
        try:
            cards = measured_cards(read_perf_files(files), chips=CHIPS_PER_310_CARD)
        except PipelineError as exc:
            raise PipelineError(f"cannot read the performance files {' '.join(files)}: {exc}") from None
        if not cards:
            continue
        card, count = cards[0], len(run.devices)
        wall = STATE / f"wall_bs{b}"
        images, seconds = wall.read_text().split() if wall.is_file() else ("0", "0")
        rate = int(images) / float(seconds) if float(seconds) > 0 else 0.0
        line = (
            f"bs{b}: {card.measured_fps:.2f} img/s (sum of the {count} devices' Interface rates); "
            f"{rate:.2f} img/s ({images} images / {float(seconds):.3f} s wall, start-up included)"
        )
        if card.extrapolated_fps is not None and card.measured_fps:
            chips = round(card.extrapolated_fps / (card.measured_fps / count))
            line += f"; guide's extrapolation {card.extrapolated_fps:.2f} img/s (one device's mean rate x {chips})"
        lines.append(line)
    return lines


def stage_summary(actions: Actions, run: Run) -> None:
    actions.stage("summary", "performance (guide 7), accuracy against the published figures (guide 6.3), report.md")
    perf_files = run.perf_files()
    accuracy_files = [f"result_bs{b}.json" for b in run.batch_sizes]
    machine = ["--chips", "1", "--label", run.cpu_label] if run.stand_in else []
    actions.run([run.python, script("parse_perf.py"), *perf_files, "--plot", "perf.png", *machine])
    card_lines = measured_card_lines(run) if len(run.devices) > 1 else []
    devices = " ".join(map(str, run.devices))
    if card_lines:
        actions.add("say", "")
        actions.say(f"measured card throughput ({len(run.devices)} devices at once: {devices}):")
        for line in card_lines:
            actions.say(f"  {line}")
    report = [run.python, script("write_report.py"), "report.md", "--accuracy", *accuracy_files, "--perf",
              *perf_files, "--plot", "perf.png", "--tool", run.tool_text, "--devices", devices]  # fmt: skip
    comparisons = run.comparison_files()
    if comparisons:
        report += ["--comparison", *comparisons]
    if run.stand_in:
        report += [*machine, "--backend", run.backend]
    else:
        report += ["--chips", str(CHIPS_PER_310_CARD), "--soc-version", run.soc_version]
    random = ["--random-weights"] if run.random_weights else []
    report += random
    if card_lines:
        report += ["--card-throughput", "; ".join(card_lines)]
    actions.run(report)
    # Last, because it fails the run when a real checkpoint misses the published accuracy by more than 1 point.
    actions.run([run.python, script("compare_accuracy.py"), *random, *accuracy_files])


STAGES = {
    "checkpoint": stage_checkpoint,
    "dataset": stage_dataset,
    "export": stage_export,
    "atc": stage_atc,
    "preprocess": stage_preprocess,
    "info": stage_info,
    "compare": stage_compare,
    "summary": stage_summary,
}
CHECKS = {"dataset": check_dataset, "preprocess": check_preprocess, "info": check_info}


def main(argv: Sequence[str]) -> int:
    command, *args = argv or [""]
    stage = (
        {"inference": f"inference bs{''.join(args[1:2])}", "reference": "compare"}.get(args[0], args[0]) if args else ""
    )
    try:
        if command == "options":
            options(args)
            return 0
        if command == "start":
            actions = Actions()
            if args[0] == "environment":
                stage_environment(actions)
            elif args[0] == "inference":
                stage_inference(actions, Run.load(), int(args[1]))
            else:
                STAGES[args[0]](actions, Run.load())
            print("\n".join(actions.lines))
            return 0
        if command == "check":
            if args[0] == "inference":
                check_inference(Run.load(), int(args[1]))
            elif args[0] == "reference":
                check_reference(*args[1:])
            else:
                CHECKS[args[0]](Run.load())
            return 0
        raise PipelineError(f"usage: python -m shufflenet_ascend.planning options|start|check ... (got {argv})")
    except PipelineError as exc:
        where = f'stage "{stage}": ' if command != "options" else ""
        print(f"{PROG}: error: {where}{exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a stamp, a renamed output or a folder of links that could not be written
        print(f'{PROG}: error: stage "{stage}": {exc}', file=sys.stderr)
        return EXIT_CANNOT_WRITE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
