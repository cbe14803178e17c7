"""python -m shufflenet_ascend.planning options|start|check ...: see the package's docstring."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError
from shufflenet_ascend.planning.common import PROG, Actions, Run
from shufflenet_ascend.planning.options import options


def tables() -> tuple[dict, dict]:
    """The stages and the checks, imported only when needed: ``options`` checks the interpreter's packages first,
    so that a missing one is one line, not a traceback from an import."""
    from shufflenet_ascend.planning.calibration import check_calibrate, stage_calibrate
    from shufflenet_ascend.planning.compare import check_layers, check_reference, stage_compare
    from shufflenet_ascend.planning.environment import stage_environment
    from shufflenet_ascend.planning.inference import check_inference, stage_inference
    from shufflenet_ascend.planning.inputs import (
        check_dataset,
        check_info,
        check_preprocess,
        stage_checkpoint,
        stage_dataset,
        stage_info,
        stage_preprocess,
    )
    from shufflenet_ascend.planning.model import check_atc, stage_atc, stage_export
    from shufflenet_ascend.planning.summary import stage_summary

    stages = {
        "environment": lambda actions, args: stage_environment(actions),
        "checkpoint": lambda actions, args: stage_checkpoint(actions, Run.load()),
        "dataset": lambda actions, args: stage_dataset(actions, Run.load()),
        "export": lambda actions, args: stage_export(actions, Run.load()),
        "atc": lambda actions, args: stage_atc(actions, Run.load()),
        "calibrate": lambda actions, args: stage_calibrate(actions, Run.load()),
        "preprocess": lambda actions, args: stage_preprocess(actions, Run.load()),
        "info": lambda actions, args: stage_info(actions, Run.load()),
        "inference": lambda actions, args: stage_inference(actions, Run.load(), int(args[0])),
        "compare": lambda actions, args: stage_compare(actions, Run.load()),
        "summary": lambda actions, args: stage_summary(actions, Run.load()),
    }
    checks = {
        "dataset": lambda args: check_dataset(Run.load()),
        "preprocess": lambda args: check_preprocess(Run.load()),
        "info": lambda args: check_info(Run.load()),
        "atc": lambda args: check_atc(Run.load(), int(args[0])),
        "inference": lambda args: check_inference(Run.load(), int(args[0]), args[1] if len(args) > 1 else "dataset"),
        "reference": lambda args: check_reference(*args),
        "calibrate": lambda args: check_calibrate(*args),
        "layers": lambda args: check_layers(*args),
    }
    return stages, checks


def main(argv: Sequence[str]) -> int:
    command, *args = argv or [""]
    stage = (
        {"inference": f"inference bs{''.join(args[1:2])}", "reference": "compare", "layers": "compare"}.get(
            args[0], args[0]
        )
        if args
        else ""
    )
    try:
        if command == "options":
            options(args)
            return 0
        if command in ("start", "check"):
            stages, checks = tables()
            if command == "start":
                actions = Actions()
                stages[args[0]](actions, args[1:])
                print("\n".join(actions.lines))
            else:
                checks[args[0]](args[1:])
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
