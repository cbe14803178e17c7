"""Numbers validated where they enter: every flag and every field read from a file is checked for its type, a
finite value and a sane range, here, in one place, and refused with one line naming it (exit status 2).

A ``Bound`` says what a number may be; the same bound serves as an argparse type (``Bound.arg``), parses a flag of
the stand-in's gflags-style command line (``Bound.parse``), and checks a value read from a JSON or text file
(``Bound.check``). The ranges are generous (a real run never comes near them) and there only so that a typo or a
corrupt file (a batch of 3,000,000,000, a latency of -1, a rate of 1e308, a class index of 1e23) stops at once
with one line, instead of a 23 GB allocation, a traceback or ``inf`` printed in a table.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

from shufflenet_ascend.cli import PipelineError


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class OutOfBounds(PipelineError):
    """A number of a file outside its bound: the file is corrupt or edited, so a reader that tolerates an unreadable
    file (write_report.py says it in its place) still refuses this one, exit status 2, nothing written."""


@dataclass(frozen=True)
class Bound:
    """What a number may be: ``low``..``high`` inclusive (``low_open``: strictly above ``low``), whole or not."""

    low: float
    high: float
    integer: bool = True
    low_open: bool = False

    def describe(self) -> str:
        """The range in words, for --help and errors: "a whole number from 1 to 1024"."""
        kind = "a whole number" if self.integer else "a number"
        if self.low_open:
            return f"{kind} above {_show(self.low)} and at most {_show(self.high)}"
        return f"{kind} from {_show(self.low)} to {_show(self.high)}"

    def accepts(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        return (value > self.low if self.low_open else value >= self.low) and value <= self.high

    def check(self, value: object, what: str) -> int | float:
        """``value`` (read from a file) when it is in range; else a PipelineError: "<what> <value!r> is not ..."."""
        if not self.accepts(value):
            raise OutOfBounds(f"{what} {value!r} is not {self.describe()}")
        return value  # type: ignore[return-value]

    def convert(self, text: str) -> int | float | None:
        """``text`` as this kind of number, or None when it is not one (or not finite); not yet range-checked."""
        text = text.strip()
        try:
            value: int | float = int(text, 10) if self.integer else float(text)
        except ValueError:
            return None
        return value if self.integer or math.isfinite(value) else None

    def parse(self, text: str, flag: str) -> int | float:
        """A flag's value, ``text``: a PipelineError naming ``flag`` and the range when it is not in it."""
        value = self.convert(text)
        if value is None or not self.accepts(value):
            raise PipelineError(f"{flag}={text}: expected {self.describe()}")
        return value

    def arg(self) -> Callable[[str], int | float]:
        """An argparse ``type=``: the value, or argparse's one-line error naming the flag and the range."""

        def convert(text: str) -> int | float:
            value = self.convert(text)
            if value is None or not self.accepts(value):
                raise argparse.ArgumentTypeError(f"{text!r}: expected {self.describe()}")
            return value

        return convert


# A batch must fit a real run: the guide measures batch sizes 1 to 32, and one batch of 1024 images at 224 x 224 is
# 617 MB of float32 input (the stand-in keeps two per stream in flight, the export traces one). Above that a batch
# size is a typo; it would otherwise allocate gigabytes before failing (issue 25's audit saw 23 GB).
BATCH_SIZE = Bound(1, 1024)
# Streams and threads: beyond the cores of any host the stand-in runs on (more make no run faster), and each stream
# holds its own copy of the model.
STREAMS = Bound(0, 256)  # 0: automatic
THREADS = Bound(0, 256)  # 0: automatic
WORKERS = Bound(0, 1024)  # 0: every core
CORES = Bound(1, 4096)  # the cores a run used, as its record says
# npu-smi numbers devices from 0 (an Atlas 300I Duo may show ids 0 and 64); 255 is far above any host's ids.
DEVICE_ID = Bound(0, 255)
# Chips on one card: an Atlas 300I carries 4 Ascend 310 chips, a 300I Duo two 310P3; 8 leaves room.
CHIPS_PER_CARD = Bound(1, 8)
# ImageNet-1k's classes, 0..999, in the label file (a model of 1001 outputs has class 0 as background).
CLASS_INDEX = Bound(0, 999)
PERCENT = Bound(0, 100, integer=False)
COSINE = Bound(-1, 1, integer=False)
# An error between two outputs (max absolute, relative, mean): not negative and finite; no upper bar of its own.
ERROR = Bound(0, 1e300, integer=False)
# Images of a model's input: 224 x 224 here; 4096 is larger than any classification network's input.
IMAGE_SIDE = Bound(1, 4096)
INPUT_SIDE = Bound(0, 4096)  # the stand-in's -input_width/-input_height: 0 takes the model's
# Images per second of one run: a 1 ms batch of 1024 images is 1e6 images/s, beyond any chip measured today.
RATE = Bound(0, 1e7, integer=False, low_open=True)
# The perf file's [data read], [preprocess] and [post] rates: the stand-in's are very high (a batch array of bins
# already read is completed in microseconds); shown nowhere, checked only to be positive and finite.
MODULE_RATE = Bound(0, 1e15, integer=False, low_open=True)
# A latency in ms: a batch's time, a module's per image, or a whole run's (the e2e latency: 50,000 images at one
# image per second is 5e7 ms); a million seconds is beyond any of them.
LATENCY_MS = Bound(0, 1e9, integer=False)
# Pure inference: batches (-round, --loop), seconds (-duration), untimed warm-up rounds.
ROUNDS = Bound(1, 10_000_000)
DURATION_S = Bound(0, 86_400, integer=False)  # 0: not given; at most a day
WARMUP = Bound(0, 10_000)
SEED = Bound(0, 2**32 - 1)  # numpy's seeds
# The images of one run: ImageNet's validation set has 50,000; the demo is generated, a few dozen suffice.
DEMO_IMAGES = Bound(1, 50_000)
CALIBRATION_IMAGES = Bound(1, 50_000)  # int8 calibration: on at most the validation set (a few hundred suffice)
# Images counted in a record: a pure-inference run of a day at 10,000 images/s infers 864 million.
IMAGES = Bound(0, 10**12)
LIST_LENGTH = Bound(0, 10_000_000)  # how many of something to list (--worst N)
