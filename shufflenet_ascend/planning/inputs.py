"""The stages that make the model's inputs: the weights, the dataset (with the free space), the bins, the info file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import BIN_BYTES_BY_DTYPE, DEFAULT_INPUT_DTYPE, IMAGE_SIZE, SMALL_CHECKPOINT_NAME
from shufflenet_ascend.fileio import atomic_write_text, format_bytes, sha256_file
from shufflenet_ascend.formats.labels import read_labels
from shufflenet_ascend.keys import IMAGE_EXTENSIONS, file_key
from shufflenet_ascend.planning.common import (
    DUMP_BYTES_PER_IMAGE,
    INFO,
    PROG,
    REPO_DIR,
    STATE,
    Actions,
    Run,
    count_bins,
    is_fresh,
    loud,
    note,
    script,
    set_stamp,
    touch,
)
from shufflenet_ascend.preprocess.folder import bins_needed_bytes
from shufflenet_ascend.preprocess.record import scan_source_folder
from shufflenet_ascend.shards import contiguous_shards


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
            digest = sha256_file(run.checkpoint)
        except OSError:
            raise PipelineError(f"checkpoint {run.checkpoint}: cannot be read") from None
        set_stamp("checkpoint", f"sha256 {digest}")
        actions.say(f"checkpoint: {run.checkpoint} (sha256 {digest[:16]}...)")
    run.save()


def stage_dataset(actions: Actions, run: Run) -> None:
    actions.stage("dataset", "choose the validation images and labels; check the free space")
    if not run.dataset:
        run.dataset = os.path.join(run.workdir, "demo", "val")
        run.demo = True
        run.save()
        if Path(run.dataset).is_dir():
            actions.skip(f"demo dataset {run.dataset} exists")
        else:
            actions.run([run.python, script("make_demo_dataset.py"), os.path.join(run.workdir, "demo")])
    actions.add("check", "dataset")


def check_dataset(run: Run) -> None:
    if not Path(run.dataset).is_dir():
        raise PipelineError(f"dataset folder {run.dataset}: no such folder")
    # As the preprocessor lists it: an entry that cannot be an input (a symbolic link loop, a name with a blank) is
    # named and left out, the others go on.
    listing = scan_source_folder(run.dataset)
    images = [image.path for image in listing.images]
    run.skipped_entries = [failure.format() for failure in listing.failures]
    for failure in listing.failures:
        print(f"{PROG}: warning: {failure.format()}: left out of the run", file=sys.stderr, flush=True)
    if not images:
        hint = "give the folder that holds the images themselves"
        if Path(run.dataset, "val").is_dir():
            hint = f"it has a val/ folder: did you mean --dataset {run.dataset}/val?"
        extensions = " ".join(sorted(IMAGE_EXTENSIONS))
        raise PipelineError(f"dataset folder {run.dataset} holds no images ({extensions}); {hint}")
    if run.infer_tool == "ais_bench":
        dotted = [path.name for path in images if "." in file_key(path.name)]
        if dotted:
            raise PipelineError(
                f"{os.path.join(run.dataset, dotted[0])}: ais_bench names each output after its input's name cut at "
                f"the first '.' ({file_key(dotted[0]).split('.', 1)[0]}_0.txt), so this image's output could not "
                f"be matched with its label ({len(dotted)} such image{'s' if len(dotted) > 1 else ''}): rename them "
                "without a dot before the extension, or run with --tool benchmark or --tool stand-in"
            )
    run.labels = run.labels or os.path.join(os.path.dirname(run.dataset), "val_label.txt")
    if not Path(run.labels).is_file():
        raise PipelineError(f"label file {run.labels}: no such file (give --labels)")
    labelled = read_labels(run.labels)
    unlabelled = [path.name for path in images if file_key(path.name) not in labelled]
    if unlabelled:
        raise PipelineError(
            f"label file {run.labels} has no line for {len(unlabelled)} image{'s' if len(unlabelled) > 1 else ''} of "
            f"{run.dataset} (first: {unlabelled[0]}): give the label file of this dataset (--labels)"
        )
    # The dataset's identity: an image replaced, added or removed changes it; a copy with its mtimes does not.
    set_stamp("dataset", "\n".join(f"{path.name}\t{path.stat().st_size}\t{path.stat().st_mtime_ns}" for path in images))
    set_stamp("labels", f"sha256 {sha256_file(run.labels)}")
    set_stamp("input_dtype", run.input_dtype)
    run.image_count, run.label_count = len(images), len(labelled)
    note(f"images: {run.dataset} ({run.image_count} images)")
    note(f"labels: {run.labels} ({run.label_count} labelled images)")
    if run.image_count < run.label_count:
        note(
            f"subset: {run.image_count} of {run.label_count} labelled images; the figures are over the images run "
            "(imagenet_acc_eval.py --inputs)"
        )
    if len(run.devices) > run.image_count:
        raise PipelineError(
            f"--devices: {len(run.devices)} devices for {run.image_count} images: every device needs at least one image"
        )
    run.save()
    check_free_space(run)


def check_free_space(run: Run) -> None:
    """The bins still to make (the preprocessor's own estimate, of the route's size), and one text output per image
    for each batch size (and compared dump) whose outputs are not there yet. df, not statvfs: what the user's df
    says is what counts."""
    bin_bytes = BIN_BYTES_BY_DTYPE[run.input_dtype]
    missing_bins = (
        max(0, bins_needed_bytes(run.dataset, "prep_dataset", "overwrite", dtype=run.input_dtype)) // bin_bytes
    )
    dumps_to_make = sum(1 for b in run.batch_sizes if not (STATE / f"inference_bs{b}.done").exists())
    if run.compare != "none" and not any((STATE / name).exists() for name in ("reference.done", "onnx_ref.done")):
        dumps_to_make += 2
    bins_needed = missing_bins * bin_bytes
    dumps_needed = run.image_count * dumps_to_make * DUMP_BYTES_PER_IMAGE
    needed = (
        f"{format_bytes(bins_needed + dumps_needed)} ({missing_bins} {run.input_dtype} bins x {bin_bytes:,} bytes = "
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


def stage_preprocess(actions: Actions, run: Run) -> None:
    actions.stage("preprocess", "images -> prep_dataset/*.bin (guide 4.2)")
    if preprocess_done(run):
        actions.skip(f"prep_dataset/ is complete for the {run.image_count} images of {run.dataset}")
        return
    (STATE / "preprocess.done").unlink(missing_ok=True)
    # The preprocessor's record in prep_dataset/ knows which image each bin came from: it resumes, redoes the bins
    # of changed images, removes those of removed images, and clears bins of another dataset.
    route = ["--dtype", run.input_dtype] if run.input_dtype != DEFAULT_INPUT_DTYPE else []
    # (--skip-bad: the entries named at the dataset stage are left out; the preprocessor names them again.)
    skip_bad = ["--skip-bad"] if run.skipped_entries else []
    actions.run([run.python, script("imagenet_torch_preprocess.py"), run.dataset, "./prep_dataset",
                 "--if-other-dataset", "overwrite", *route, *skip_bad])  # fmt: skip
    actions.add("check", "preprocess")


def preprocess_done(run: Run) -> bool:
    return (
        is_fresh(STATE / "preprocess.done", STATE / "dataset", STATE / "input_dtype")
        and count_bins("prep_dataset") == run.image_count
    )


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
        route = ["--dtype", run.input_dtype] if run.input_dtype != DEFAULT_INPUT_DTYPE else []
        actions.run([run.python, script("get_info.py"), "bin", "./prep_dataset", f"./{INFO}", IMAGE_SIZE, IMAGE_SIZE,
                     *route])  # fmt: skip
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
    for device, shard in zip(run.devices, contiguous_shards(lines, len(run.devices)), strict=True):
        atomic_write_text(run.shard_info(device), "".join(shard))
        note(f"device {device}: lines {start + 1}..{start + len(shard)} of {INFO} -> {run.shard_info(device)}")
        start += len(shard)
