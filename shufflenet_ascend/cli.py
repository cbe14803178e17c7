"""What every script shares at its edges: one error rule, exit statuses, logging, help text and common flags.

The rule: a user's mistake (a bad argument, a bad or missing file) is one line on stderr naming the file and what
is wrong, with a documented exit status, never a traceback; results go to stdout and logs to stderr.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from shufflenet_ascend import signals

# One meaning per exit status, in every script of the project (and in run_all.sh).
EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # the step ran, and what it checks failed: a verdict, a threshold, images without output
EXIT_BAD_INPUT = 2  # a bad argument or input file; nothing was written
EXIT_CANNOT_WRITE = 3  # an output could not be written (disk full, I/O error); nothing half-written is left
EXIT_INTERRUPTED = signals.EXIT_INTERRUPTED  # Ctrl-C (SIGINT)
EXIT_TERMINATED = signals.EXIT_TERMINATED  # kill (SIGTERM)

EXIT_STATUS_HELP = """\
exit status:
  0    done
  1    the step ran and what it checks failed (named on stderr)
  2    bad argument or input file (one line on stderr names it); nothing written
  3    an output could not be written (disk full, I/O error); nothing half-written is left
  130  interrupted (Ctrl-C, SIGINT)
  143  terminated (kill, SIGTERM)"""


class PipelineError(Exception):
    """A user's mistake (bad file, bad argument): reported as one line on stderr, never as a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def setup_logging(verbose: bool = False) -> None:
    """Scripts report on stderr through logging; stdout stays free for results."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
        force=True,
    )


def run_cli(main: Callable[[Sequence[str] | None], int]) -> None:
    """Run a script's ``main`` and turn a PipelineError into one stderr line and its exit status."""
    prog = Path(sys.argv[0]).name
    try:
        with signals.running():  # SIGINT and SIGTERM raise from here on: locks and temporary files are released
            status = main(None)
    except PipelineError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        status = exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or signals.Terminated (SIGTERM)
        status = signals.exit_status(exc)
        print(f"{prog}: interrupted ({'SIGTERM' if status == EXIT_TERMINATED else 'SIGINT'})", file=sys.stderr)
    sys.exit(status)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help, wrapped to the terminal, keeping the paragraphs of the description and epilog.

    Paragraphs are separated by blank lines and wrapped to the width; a line starting with "- " starts a list item
    (wrapped with a hanging indent); a paragraph whose lines are all indented (command examples, tables) is kept as
    written (also under a title line ending in ":"), so that a command can be pasted."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 30, width: int | None = None):
        width = width or min(shutil.get_terminal_size().columns, 100) - 2
        super().__init__(prog, indent_increment, max_help_position, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = re.split(r"\n\s*\n", textwrap.dedent(text).strip("\n"))
        return "\n\n".join(_fill_paragraph(paragraph, width, indent) for paragraph in paragraphs)


def _fill_paragraph(paragraph: str, width: int, indent: str) -> str:
    lines = paragraph.splitlines()
    indented = [line.startswith((" ", "\t")) for line in lines]
    if all(indented) or (lines[0].rstrip().endswith(":") and len(lines) > 1 and all(indented[1:])):
        return "\n".join(indent + line for line in lines)  # a command, a table or a titled table: as written
    items: list[list[str]] = []
    for line in lines:
        if line.lstrip().startswith("- ") or not items or (line.startswith(" ") and not items[-1][0].startswith("-")):
            items.append([line.strip()])
        else:
            items[-1].append(line.strip())
    filled = []
    for item in items:
        text = " ".join(item)
        hanging = "  " if text.startswith("- ") else ""
        filled.append(textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + hanging))
    return "\n".join(filled)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line on stderr (the rule), exit status 2, pointing at --help."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def make_parser(description: str, usage: str | None = None, epilog: str | None = None) -> argparse.ArgumentParser:
    """An argument parser with the project's help layout: usage first, wrapped paragraphs, exit statuses last."""
    epilog_text = EXIT_STATUS_HELP if epilog is None else f"{epilog.strip()}\n\n{EXIT_STATUS_HELP}"
    return ArgumentParser(usage=usage, description=description, epilog=epilog_text, formatter_class=HelpFormatter)


# ----------------------------------------------------------------------------------------------------------------
# The flags that mean the same in every script carry the same name there.


def add_workers_flag(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    from shufflenet_ascend.bounds import WORKERS  # here: bounds reports its errors with this module's PipelineError

    parser.add_argument(
        "-j",
        "--workers",
        type=WORKERS.arg(),
        default=default,
        metavar="N",
        help=f"{what} (default: {default or 'all cores'}; at most {WORKERS.high:g})",
    )


def add_json_flag(parser: argparse.ArgumentParser, what: str = "write every figure as JSON to FILE") -> None:
    parser.add_argument("--json", type=Path, metavar="FILE", help=what)


def add_label_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label", metavar="TEXT", help="what the figures were measured on (shown in tables, plots and reports)"
    )


def add_reference_flag(parser: argparse.ArgumentParser, default: Sequence[float] | None, what: str) -> None:
    """``--reference TOP1 TOP5``: two percentages, 0..100 (``nan`` or 120 refused: a verdict must be able to fail)."""
    from shufflenet_ascend.bounds import PERCENT

    shown = "" if default is None else f" (default: {default[0]} {default[1]})"
    parser.add_argument(
        "--reference",
        nargs=2,
        type=PERCENT.arg(),
        metavar=("TOP1", "TOP5"),
        default=None if default is None else tuple(default),
        help=f"{what}, in percent 0..100{shown}",
    )


def add_min_cosine_flag(parser: argparse.ArgumentParser, default: float, what: str) -> None:
    """``--min-cosine C``: the acceptance bar of a cosine, -1..1 (``nan`` refused: a bar nothing can miss)."""
    from shufflenet_ascend.bounds import COSINE

    parser.add_argument(
        "--min-cosine",
        type=COSINE.arg(),
        default=default,
        metavar="C",
        help=f"exit 1 when {what} cosine is below C, -1..1 (default: {default}; -1 accepts any)",
    )


def add_verbose_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail on stderr")
