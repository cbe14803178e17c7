"""Files written whole or not at all, and text files read with one clear error.

Every output of the pipeline is written to a temporary name beside its target and renamed when complete, so a
reader never sees a half-written file and an interrupted run leaves nothing under the target's name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from shufflenet_ascend.cli import EXIT_CANNOT_WRITE, PipelineError


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it to ``path``, on any error remove it.

    A reader never sees a half-written ``path``, and an interrupted run leaves no file under that name.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """``atomic_output`` for content already in memory, with a quarter of its system calls and Python objects:
    the dump writer writes 50,000 of these while the model runs. Same temporary name pattern
    (``.<name>.<unique>.tmp``: process and thread ids, so concurrent writers never share one), same 0o644 mode."""
    target = os.fspath(path)
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}-{threading.get_native_id()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        try:
            os.fchmod(descriptor, 0o644)  # as atomic_output: whatever the umask
            remaining = memoryview(data)
            while remaining:
                remaining = remaining[os.write(descriptor, remaining) :]
        finally:
            os.close(descriptor)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """Fail early, naming the file, when an output file's folder is missing or not writable."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise PipelineError(f"{target}: output folder {folder} does not exist")
    if target.is_dir():
        raise PipelineError(f"{target}: is a folder, expected a file name")
    # A real write probe: os.access says yes to root even on a read-only mount.
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise PipelineError(f"{target}: output folder {folder} is not writable ({exc.strerror or exc})") from None
    return target


@contextlib.contextmanager
def write_errors_named(path: str | os.PathLike[str], what: str = "output file") -> Iterator[None]:
    """Turn an OSError while writing ``path`` (disk full, quota, I/O error) into one PipelineError naming it.

    Use around an atomic write: the atomic writer has already removed its temporary file, so nothing
    half-written is left under any name."""
    try:
        yield
    except OSError as exc:
        raise PipelineError(f"{path}: cannot write {what}: {exc.strerror or exc}", EXIT_CANNOT_WRITE) from None


def read_bytes(path: str | os.PathLike[str], what: str) -> bytes:
    """A whole file; a missing or unreadable file is a PipelineError naming it and ``what``."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise PipelineError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise PipelineError(f"{path}: is a folder, expected a {what}") from None
    except OSError as exc:
        raise PipelineError(f"{path}: cannot read {what}: {exc.strerror}") from None


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """A whole UTF-8 text file; a missing, unreadable or binary file is a PipelineError naming it and ``what``."""
    try:
        return read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError:
        raise PipelineError(f"{path}: not a text {what}") from None


def format_bytes(count: int) -> str:
    """A size for people: ``30.1 GB``, ``602.1 MB``, ``16 kB`` (decimal units, as disk tools print them)."""
    if count >= 1e9:
        return f"{count / 1e9:.1f} GB"
    if count >= 1e6:
        return f"{count / 1e6:.1f} MB"
    return f"{count / 1e3:.0f} kB"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, in hex (read in 1 MiB blocks: model files are tens of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
