"""What the fake Ascend tools share: the call log and the planted scores (stdlib only, no project code)."""

from __future__ import annotations

import json
import os
import sys


def log_call(tool: str, **extra: object) -> None:
    """Append {"tool", "cwd", "argv", ...} as one JSON line to $FAKE_LOG (when set)."""
    path = os.environ.get("FAKE_LOG")
    if path:
        with open(path, "a") as log:
            log.write(json.dumps({"tool": tool, "cwd": os.getcwd(), "argv": sys.argv[1:], **extra}) + "\n")


def planted_scores(key: str) -> list[float]:
    """1000 scores putting the image's true label at rank (its line number in $FAKE_LABELS, from 0, modulo 6):
    ranks 0..4 count for top-(rank+1), rank 5 is a miss. Independent of which shard or tool runs the image."""
    position, label = None, None
    with open(os.environ["FAKE_LABELS"]) as labels:
        for number, line in enumerate(filter(str.strip, labels)):
            name, value = line.split()
            if name.rsplit(".", 1)[0] == key:
                position, label = number, int(value)
                break
    if label is None:
        raise SystemExit(f"fake tool: {key} has no label in {os.environ['FAKE_LABELS']}")
    rank = position % 6
    others = [c for c in range(1000) if c != label]
    order = others[:rank] + [label] + others[rank:]
    scores = [0.0] * 1000
    for place, cls in enumerate(order):
        scores[cls] = 10.0 - place * 0.001
    return scores
