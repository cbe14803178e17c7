"""python -m shufflenet_ascend.planning options|start|check ...: see the package's docstring."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError
from shufflenet_ascend.planning.common import PROG, Actions, Run
from shufflenet_ascend.planning.compare import check_reference, stage_compare
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
from shufflenet_ascend.planning.model import stage_atc, stage_export
from shufflenet_ascend.planning.options import options
from shufflenet_ascend.planning.summary import stage_summary

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
