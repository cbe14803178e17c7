"""Ctrl-C and ``kill``: SIGINT and SIGTERM end every script in one line, exit status 130 or 143, at any moment.

Installed by the package's ``__init__`` (every script imports the package before anything heavy, so the handlers
are in place before numpy, onnxruntime or torch load), in the main thread of the process that imported it, and
only over Python's own defaults (a SIGINT that a shell set to be ignored stays ignored):

- while a script's ``main`` runs (``running()``, entered by ``cli.run_cli``): SIGINT raises KeyboardInterrupt as
  always, SIGTERM raises ``Terminated`` (a KeyboardInterrupt), so that ``finally`` blocks release locks and remove
  temporary files; run_cli prints one line and exits 130 or 143;
- while a script of this project is still importing: one line (``<script>: interrupted (SIGINT)``) and the exit
  status at once: nothing has been written yet, and a traceback from inside an import says nothing;
- anywhere else (the package used as a library, a test runner, a forked worker): Python's own behaviour.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it
EXIT_TERMINATED = 143  # 128 + SIGTERM
_ROOT = Path(__file__).resolve().parents[1]
# held: a signal that came inside ``deferred``; raised: one raised and not yet seen by run_cli (sticky, see _handle)
_state = {"pid": 0, "running": 0, "deferred": 0, "held": 0, "raised": 0}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so that the same cleanup runs (exit status 143)."""


def exit_status(exc: BaseException) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def _prog() -> str:
    """The script's name, as run_cli names it (``python -m package``: the package)."""
    path = Path(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-m", "-c") else Path("python")
    return path.parent.name if path.name == "__main__.py" else path.name


def _project_script() -> bool:
    """Whether this process runs one of the project's scripts (or ``python -m shufflenet_ascend...``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:  # python -m: while the packages import, __main__ is not the module yet
        return bool(sys.argv) and sys.argv[0] == "-m"
    try:
        return Path(path).resolve().is_relative_to(_ROOT) and "site-packages" not in Path(path).parts
    except OSError:
        return False


def _handle(number: int, frame: object) -> None:
    name = signal.Signals(number).name
    if os.getpid() == _state["pid"]:
        if _state["running"] and _state["deferred"]:
            _state["held"] = _state["held"] or number
            return
        if _state["running"]:
            # Sticky: an exception raised inside an import or an isinstance check can be swallowed by the code
            # around it; every ``deferred`` block raises it again until run_cli has it.
            _state["raised"] = _state["raised"] or number
            raise _exception(number)
        if _project_script():
            os.write(2, f"{_prog()}: interrupted ({name})\n".encode())
            os._exit(EXIT_TERMINATED if number == signal.SIGTERM else EXIT_INTERRUPTED)
    # Not ours to handle: what Python does by default.
    if number == signal.SIGINT:
        raise KeyboardInterrupt
    signal.signal(number, signal.SIG_DFL)
    os.kill(os.getpid(), number)


def _exception(number: int) -> KeyboardInterrupt:
    name = signal.Signals(number).name
    return Terminated(name) if number == signal.SIGTERM else KeyboardInterrupt(name)


def install() -> None:
    """Put the handlers in place (see the module's docstring); a no-op outside the main thread, or when done."""
    if _state["pid"] == os.getpid() or threading.current_thread() is not threading.main_thread():
        return
    _state["pid"] = os.getpid()
    for number, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(number) is default:
            signal.signal(number, _handle)


@contextlib.contextmanager
def running() -> Iterator[None]:
    """While a script's main runs: SIGINT and SIGTERM raise (KeyboardInterrupt, Terminated) instead of exiting."""
    install()
    _state["running"] += 1
    try:
        yield
    finally:
        _state["running"] -= 1
        _state["raised"] = 0


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Within: a signal is held, and raised when the block ends. For the main thread's waits on threading's locks,
    semaphores and queues, which an exception raised inside them can leave held (the workers then wait forever)."""
    if _state["raised"] and not _state["deferred"]:
        raise _exception(_state["raised"])
    _state["deferred"] += 1
    try:
        yield
    finally:
        _state["deferred"] -= 1
    if not _state["deferred"] and (_state["held"] or _state["raised"]):
        number, _state["held"] = _state["held"] or _state["raised"], 0
        _state["raised"] = number
        raise _exception(number)
