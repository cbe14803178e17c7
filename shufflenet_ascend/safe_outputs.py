"""The outputs rule: what a command writes may not destroy what it reads, nor land where it was not named.

Every script (and run_all.sh's planning) calls ``refuse_unsafe_outputs`` with its outputs and inputs before any
work. An output is refused, with one line naming it (exit status 2, nothing written), when it

- is an input of the same command (the same file by inode, or the same name), or lies inside a folder the
  command reads (it would replace an input, or be read as one the next time);
- exists and is not what is wanted: a device, FIFO or socket (``/dev/null``: an atomic write would replace it by a
  regular file), a folder where a file is wanted, a file where a folder is wanted;
- escapes the folder it is named under (ais_bench's ``--output_dirname ../../x`` under ``--output``);
- is given twice (two outputs of one command on one file).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shufflenet_ascend.cli import PipelineError

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Output:
    """One output of a command: a file (or a folder, ``folder=True``), named under ``under`` when given."""

    path: Path
    folder: bool = False
    under: Path | None = None


def _real(path: PathLike) -> Path:
    """The path with its existing part's symbolic links resolved (the rest as named)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def _same_file(first: PathLike, second: PathLike) -> bool:
    if _real(first) == _real(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _kind(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _check_existing(output: Output) -> None:
    try:
        mode = os.stat(output.path).st_mode
    except OSError:
        return  # not there (or a broken link, which the write replaces): nothing to lose
    if output.folder:
        if not stat.S_ISDIR(mode):
            raise PipelineError(f"{output.path}: is a file, expected a folder for the results; refused as an output")
    elif stat.S_ISDIR(mode):
        raise PipelineError(f"{output.path}: is a folder, expected a file name; refused as an output")
    elif not stat.S_ISREG(mode):
        raise PipelineError(
            f"{output.path}: is a {_kind(mode)}, not a regular file; refused as an output (writing would replace it)"
        )


def refuse_unsafe_outputs(
    outputs: Iterable[Output | PathLike],
    inputs: Iterable[PathLike | None] = (),
    folders_of_inputs: Iterable[PathLike] = (),
) -> None:
    """Refuse, with a PipelineError naming the output, every output that breaks the rule of this module.

    ``outputs``: file names, or ``Output`` for folders and for names that must stay under a folder; ``inputs``:
    every file and folder the command reads (None entries are skipped: options not given); a folder given is read
    as a whole, so nothing may be written inside it. ``folders_of_inputs``: the folders of input files read one by
    one (the bins an info file lists): an output may not be one of them (a dump folder is emptied of
    ``<key>_<k>.bin`` files before a run), but may lie inside one (``./result/`` beside bins in ``./``)."""
    wanted = [item if isinstance(item, Output) else Output(Path(item)) for item in outputs]
    given = [Path(path) for path in inputs if path is not None and str(path) != ""]
    folders = [path for path in given if path.is_dir()]
    holders = [Path(path) for path in folders_of_inputs]
    for index, output in enumerate(wanted):
        if output.under is not None:
            named = Path(os.path.normpath(os.path.abspath(output.path)))
            under = Path(os.path.normpath(os.path.abspath(output.under)))
            if named == under or not named.is_relative_to(under):
                where = "is" if named == under else "escapes"
                raise PipelineError(f"{output.path}: {where} {output.under}, the folder it is named under; refused")
        for other in wanted[index + 1 :]:
            if _same_file(output.path, other.path):
                raise PipelineError(f"{output.path}: given as two outputs at once ({other.path} is the same)")
        for path in given:
            if _same_file(output.path, path):
                raise PipelineError(
                    f"{output.path}: is an input of this command ({path}); refused as an output (it would be "
                    "overwritten)"
                )
        for folder in holders:
            if _same_file(output.path, folder):
                raise PipelineError(
                    f"{output.path}: holds inputs of this command; refused as an output folder (its inputs would be "
                    "replaced, or removed as an earlier run's outputs)"
                )
        real = _real(output.path)
        for folder in folders:
            if real.is_relative_to(_real(folder)):
                raise PipelineError(
                    f"{output.path}: lies inside {folder}, a folder this command reads; refused as an output (it "
                    "would replace an input, or be read as one)"
                )
        _check_existing(output)
