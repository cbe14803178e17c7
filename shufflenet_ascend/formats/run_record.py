"""The run record: a small JSON beside every output set, saying what made it.

Huawei's tools write perf files that do not say which machine, model or data produced them, so a figure read back
later cannot tell a CPU stand-in's run from an Ascend card's. Every run of the stand-in, and every run that
run_all.sh drives with Huawei's tools, leaves a record beside the tool's own files (which stay exactly as the tools
write them): ``result/perf_vision_batchsize_<B>_device_<D>.json`` beside ``..._device_<D>.txt`` (the 2021 benchmark
tool and the stand-in), ``result/<name>_record.json`` beside ais_bench's ``result/<name>_summary.json``.
Readers (perf tables, reports, comparisons) take the machine, the model and the dataset from it; a perf file with
no record is a file of Huawei's tool from elsewhere and is read as before.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from shufflenet_ascend.bounds import (
    BATCH_SIZE,
    CHIPS_PER_CARD,
    CORES,
    DEVICE_ID,
    IMAGES,
    LATENCY_MS,
    RATE,
    STREAMS,
    THREADS,
    Bound,
)
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.fileio import atomic_write_text, sha256_file

RECORD_FORMAT = "shufflenet_ascend run record 1"
TOOLS = ("stand-in", "benchmark", "ais_bench")
DEVICE_KINDS = ("cpu", "ascend")
INPUT_DTYPES = ("float32", "uint8")
MODES = ("dataset", "pure")
LATENCY_KEYS = ("min", "mean", "median", "p90", "p99", "max")
OMITTED_WHEN_NONE = ("precision", "calibration")
PREP_RECORD_NAME = ".prep_sources.json"  # the preprocessor's record of the images its bins came from


@dataclass(frozen=True)
class Device:
    """What computed: a CPU (model name, cores used) or Ascend chips (``Ascend310P3``, the device ids)."""

    kind: str
    name: str
    device_ids: tuple[int, ...] = ()
    cores: int | None = None
    # Chips on one card, for a card figure: 4 for the Atlas 300I (Ascend 310); None where no card figure is
    # meaningful (a CPU, or a chip whose card is not known).
    chips_per_card: int | None = None

    def describe(self) -> str:
        if self.kind == "cpu":
            return f"CPU {self.name}" + (f", {self.cores} cores" if self.cores else "")
        ids = ",".join(map(str, self.device_ids))
        return f"{self.name}" + (f" device {ids}" if ids else "")


@dataclass(frozen=True)
class RunRecord:
    """One inference run: which tool on which device ran which model on which data, when, and how fast."""

    tool: str
    device: Device
    model_file: str
    model_sha256: str
    batch_size: int
    mode: str
    images: int  # images inferred (dataset mode) or batches x batch size (pure inference)
    weights: str = "unknown"  # "sha256:<checkpoint>", "random weights, seed <s>" or "unknown"
    backend: str | None = None  # the stand-in's backend (onnxruntime, openvino, torch, torch-fp16)
    streams: int | None = None
    threads: int | None = None
    input_dtype: str = "float32"
    dataset: str | None = None  # identity: "sha256:<...>" of the preprocessor's record or of the info file
    dataset_source: str | None = None  # the info file or input folder the images came from
    started: str = ""  # ISO 8601, UTC
    project_version: str = "unknown"
    command: tuple[str, ...] = ()
    latency_ms: dict[str, float] | None = None  # per batch: min, mean, median, p90, p99, max (+ count)
    model_size: str | None = None  # ShuffleNetV2+ Small, Medium or Large, where known (the ONNX file's metadata)
    batch_latencies_ms: tuple[float, ...] | None = None  # every timed batch's inference time, in completion order
    # The stand-in's images per second of wall-clock time, its streams computing at once: a dataset run from the
    # first read to the last output written (its e2e rate), pure inference while a batch was in flight.
    wall_clock_throughput: float | None = None
    # A quantized model: "int8", and which images calibrated it. None: the model's own float precision (fp32 ONNX on
    # a CPU, the OM as ATC builds it); left out of the file then, so that the float route's records are as before.
    precision: str | None = None
    calibration: str | None = None

    @property
    def on_ascend(self) -> bool:
        return self.device.kind == "ascend"

    def describe(self) -> str:
        """One line for tables, plots and reports: tool, backend, device, concurrency."""
        if self.tool == "stand-in":
            text = (
                f"CPU stand-in ({self.backend or 'unknown backend'}) on {self.device.describe().removeprefix('CPU ')}"
            )
            if self.streams and self.threads:
                text += f", {self.streams} streams x {self.threads} thread{'s' if self.threads > 1 else ''}"
            return text + self.precision_text()
        return f"{self.tool} on {self.device.describe()}" + self.precision_text()

    def precision_text(self) -> str:
        return f", {self.precision} model" if self.precision else ""


def record_path(output_file: str | os.PathLike[str]) -> Path:
    """Where the record of a tool's output file goes: beside it, named after it."""
    path = Path(output_file)
    if path.name.endswith("_summary.json"):  # ais_bench: <name>_summary.json -> <name>_record.json
        return path.with_name(path.name.removesuffix("_summary.json") + "_record.json")
    return path.with_suffix(".json")


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def dataset_identity(source: str | os.PathLike[str], first_input: str | os.PathLike[str] | None = None) -> str:
    """The identity of the images a run read: the preprocessor's record of the bins' folder (the same for every
    shard of one dataset) when there is one, else the content of ``source`` (an info file), else its name."""
    folders = [Path(first_input).parent] if first_input else []
    source = Path(source)
    folders.append(source if source.is_dir() else source.parent)
    for folder in folders:
        prep_record = folder / PREP_RECORD_NAME
        if prep_record.is_file():
            return "sha256:" + sha256_file(prep_record)
    if source.is_file():
        return "sha256:" + sha256_file(source)
    return f"path:{source}"


def format_run_record(record: RunRecord) -> str:
    document = {"format": RECORD_FORMAT, **asdict(record)}
    for key in OMITTED_WHEN_NONE:
        if document[key] is None:
            del document[key]
    return json.dumps(document, indent=1, sort_keys=False) + "\n"


def write_run_record(path: str | os.PathLike[str], record: RunRecord) -> None:
    atomic_write_text(path, format_run_record(record))


def read_run_record(path: str | os.PathLike[str]) -> RunRecord:
    """Read a run record; a file that is not one (or not of this format) is a PipelineError naming it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        if document.pop("format") != RECORD_FORMAT:
            raise ValueError
        device = document.pop("device")
        device["device_ids"] = tuple(device.get("device_ids", ()))
        document["command"] = tuple(document.get("command", ()))
        if document.get("batch_latencies_ms") is not None:
            document["batch_latencies_ms"] = tuple(document["batch_latencies_ms"])
        known = {entry.name for entry in fields(RunRecord)}
        record = RunRecord(device=Device(**device), **{key: value for key, value in document.items() if key in known})
    except FileNotFoundError:
        raise PipelineError(f"{path}: run record not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise PipelineError(f"{path}: not a run record of this project ({RECORD_FORMAT})") from None
    problems = []
    if record.tool not in TOOLS:
        problems.append(f"tool {record.tool!r}")
    if record.device.kind not in DEVICE_KINDS:
        problems.append(f"device kind {record.device.kind!r}")
    if record.mode not in MODES:
        problems.append(f"mode {record.mode!r}")
    if record.input_dtype not in INPUT_DTYPES:
        problems.append(f"input dtype {record.input_dtype!r}")
    problems += _number_problems(record)
    if record.device.kind == "cpu" and record.device.chips_per_card is not None:
        problems.append("a CPU with chips per card")
    if problems:
        raise PipelineError(f"{path}: run record with an impossible {', '.join(problems)}")
    return record


def _number_problems(record: RunRecord) -> list[str]:
    """The record's numbers that are not of their type and range (``bounds``): a batch of 3e9, threads "2", chips
    per card 1e30, a latency of -1 or inf."""
    checks: list[tuple[str, object, Bound, bool]] = [  # (name, value, bound, may be None)
        ("batch size", record.batch_size, BATCH_SIZE, False),
        ("images", record.images, IMAGES, False),
        ("streams", record.streams, STREAMS, True),
        ("threads", record.threads, THREADS, True),
        ("cores", record.device.cores, CORES, True),
        ("chips per card", record.device.chips_per_card, CHIPS_PER_CARD, True),
        ("wall-clock throughput", record.wall_clock_throughput, RATE, True),
        *(("device id", number, DEVICE_ID, False) for number in record.device.device_ids),
        *((f"latency {key}", value, IMAGES if key == "count" else LATENCY_MS, False)
          for key, value in (record.latency_ms or {}).items()),
        *(("batch latency", value, LATENCY_MS, False) for value in record.batch_latencies_ms or ()),
    ]  # fmt: skip
    problems = []
    for name, value, bound, optional in checks:
        if not (optional and value is None) and not bound.accepts(value):
            problems.append(f"{name} {value!r} (expected {bound.describe()})")
    return problems[:1]  # one line: the first is enough to refuse the record


def find_run_record(output_file: str | os.PathLike[str]) -> RunRecord | None:
    """The record beside a tool's output file, or None when there is none (a file of Huawei's tool from
    elsewhere); a record that is there but broken is a PipelineError."""
    path = record_path(output_file)
    return read_run_record(path) if path.exists() else None
