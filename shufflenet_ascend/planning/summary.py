"""The summary stage: performance, accuracy against the published figures, report.md."""

from __future__ import annotations

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.perf import measured_cards, read_perf_files
from shufflenet_ascend.planning.common import AIPP_CONFIG, STATE, Actions, Run, script


def measured_card_lines(run: Run) -> list[str]:
    """Several devices: the card's throughput as measured, beside the guide's extrapolation (one chip's rate x the
    chips of a card; none for a CPU, where it means nothing)."""
    lines = []
    for b in run.batch_sizes:
        files = [run.perf_file(b, d) for d in run.devices]
        try:
            # (The run records beside the files decide the chips per card: none for a CPU or a 310P.)
            cards = measured_cards(read_perf_files(files), chips=run.chips_per_card or 1)
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
    perf_files = run.perf_files() + run.pure_perf_files()
    outputs = [run.accuracy_outputs(b) for b in run.batch_sizes]
    accuracy_files = [accuracy for accuracy, _, _ in outputs]
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
    layers = run.layer_files()
    if layers:
        report += ["--layers", *layers]
    if run.stand_in:
        report += [*machine, "--backend", run.backend]
    else:
        report += ["--chips", str(run.chips_per_card or 1), "--soc-version", run.soc_version]
    report += ["--predictions", *(predictions for _, predictions, _ in outputs)]
    report += ["--per-class", *(per_class for _, _, per_class in outputs)]
    random = ["--random-weights"] if run.random_weights else []
    report += random
    # (The route is said here: report.md does not read it from the run records.)
    route = {"float32": "float32 bins (as in the guide)", "uint8": f"uint8 bins (the AIPP stage of ATC, {AIPP_CONFIG})"}
    what = f"demo: {run.image_count} generated images" if run.demo else f"{run.image_count} images"
    report += ["--dataset", f"{what} in {run.dataset}; {route[run.input_dtype]}"]
    if run.demo:
        report += ["--random-labels"]
    if card_lines:
        report += ["--card-throughput", "; ".join(card_lines)]
    if run.int8:
        from shufflenet_ascend.planning.calibration import calibration_text

        report += ["--precision", "int8", "--calibration", calibration_text(run)]
    actions.run(report)
    # Last, because it fails the run when a real checkpoint misses the published accuracy by more than 1 point.
    actions.run([run.python, script("compare_accuracy.py"), *random, *accuracy_files])
