"""What every stage shares: the run's settings, the actions printed for run_all.sh, stamps and freshness."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import DEFAULT_MODEL_SIZE
from shufflenet_ascend.fileio import atomic_write_text

PROG = "run_all.sh"
REPO_DIR = Path(__file__).resolve().parents[2]
STATE = Path(".run_all")
INFO = "shufflenetv2_prep_bin.info"
DUMP_BYTES_PER_IMAGE = 16_000  # one text output of 1000 scores (%.8e: about 15,000 bytes), rounded up
TOOLS = ("auto", "benchmark", "ais_bench", "stand-in")
BACKENDS = ("onnxruntime", "openvino")
COMPARES = ("none", "first", "all")
PRECISIONS = ("float", "int8")  # float: the guide's (fp32 ONNX; the OM as ATC builds it); int8: calibrated
AIPP_CONFIG = "aipp.config"  # ATC's AIPP stage for the uint8 route (in this repository, as Huawei's guides keep it)
PURE_LOOP_ASCEND = 100  # the current guides' pure-inference run: ais_bench --loop=100
MSIT_CSV = (
    "layers_bs1_om_vs_onnx.csv"  # msit debug compare's result CSV of the batch-1 OM, copied from result/msit_bs1/
)
PURE_SECONDS_STAND_IN = 2  # the stand-in's pure-inference run on a CPU: a fixed time keeps the quick start quick


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
    input_dtype: str = "float32"
    model_size: str = DEFAULT_MODEL_SIZE
    pure_loop: int | None = None  # None: the default of the tool (PURE_LOOP_ASCEND, or the stand-in's seconds)
    python: str = "python3"
    arch: str = ""
    cores: int = 1
    cpu_model: str = ""
    benchmark_tool: str = ""
    infer_tool: str = ""
    tool_text: str = ""
    random_weights: bool = False
    image_count: int = 0
    label_count: int = 0
    demo: bool = False  # the generated demo dataset (random labels)
    chips_per_card: int | None = None  # chips of one card for the guide's card figure: Ascend 310 only (4)
    skipped_entries: list[str] = dataclasses.field(default_factory=list)  # dataset entries that cannot be inputs
    precision: str = "float"
    calibration_images: int = 0  # int8: the first N images by name calibrate (0: the default of quantize.py)
    calibration_dataset: str = ""  # int8: a folder of other images to calibrate on ("": the run's own images)
    calibration_config: str = ""  # int8 on an Ascend host: AMCT's --calibration_config

    @property
    def cpu_label(self) -> str:
        return f"{self.cpu_model}, {self.cores} cores, {self.backend}" + (", int8" if self.int8 else "")

    @property
    def int8(self) -> bool:
        return self.precision == "int8"

    def model_stem(self, batch_size: int) -> str:
        """The model file of BATCH without its extension: the guide's name, or the int8 model's."""
        return f"shufflenetv2_bs{batch_size}" + ("_int8" if self.int8 else "")

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

    def pure_perf_file(self, batch_size: int) -> str:
        """Where the pure-inference run of BATCH leaves its figures (on the first device)."""
        device = self.devices[0]
        if self.infer_tool == "ais_bench":
            return f"result/pure_bs{batch_size}_summary.json"
        return f"result/PureInfer_perf_of_{self.model_stem(batch_size)}_in_device_{device}.txt"

    def pure_perf_files(self) -> list[str]:
        return [self.pure_perf_file(b) for b in self.batch_sizes] if self.pure_loop != 0 else []

    @property
    def model_ext(self) -> str:
        return "onnx" if self.stand_in else "om"

    def accuracy_outputs(self, batch_size: int) -> tuple[str, str, str]:
        """The accuracy JSON of BATCH and its predictions and per-class files, side by side."""
        stem = f"result_bs{batch_size}"
        return f"{stem}.json", f"{stem}_predictions.csv", f"{stem}_per_class.csv"

    def shard_info(self, device: int) -> str:
        return f"shufflenetv2_prep_bin_device{device}.info"

    def compare_batches(self) -> list[int]:
        return {"none": [], "first": self.batch_sizes[:1], "all": self.batch_sizes}[self.compare]

    def comparison_file(self, batch_size: int) -> str:
        """The comparison of BATCH's outputs: the stand-in's against the PyTorch reference (the fp32 model), or the
        OM's against the ONNX stand-in's; an int8 model's says so in the name."""
        if self.stand_in:
            what = "int8_vs_fp32_torch" if self.int8 else "onnx_vs_torch"
        else:
            what = "int8_om_vs_fp32_onnx" if self.int8 else "om_vs_onnx"
        return f"compare_bs{batch_size}_{what}.json"

    def comparison_files(self) -> list[str]:
        files = [self.comparison_file(b) for b in self.compare_batches()]
        return files + ["compare_fp16_vs_torch.json"] if self.stand_in and files else files

    def layer_files(self) -> list[str]:
        """The layer CSVs of the compare stage: the float16 prediction of the first compared batch size, and (an
        Ascend host with msit) msit's comparison of the batch-1 OM with its ONNX file, when it was made."""
        batches = self.compare_batches()
        if not batches:
            return []
        files = [f"layers_bs{batches[0]}_fp16_vs_onnx.csv"] + ([self.int8_layer_file()] if self.int8 else [])
        return files + [MSIT_CSV] if not self.stand_in and os.path.isfile(MSIT_CSV) else files

    def int8_layer_file(self) -> str:
        """int8: the layer CSV of the int8 model against the fp32 one (the first compared batch size)."""
        return f"layers_bs{self.compare_batches()[0]}_int8_vs_fp32.csv"


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
