"""File names as the pipeline's text files hold them (UTF-8, one line each, no whitespace), and what is wrong
with a folder entry that cannot be read."""

from __future__ import annotations

import contextlib
import errno
import os


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as one printable line of UTF-8 text: bytes that are not UTF-8 as ``\\xe9``, control characters
    (a newline in a name) through repr."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else repr(text)


def is_utf8(name: str) -> bool:
    """Whether a name (from os.scandir or sys.argv) is valid UTF-8: they give undecodable bytes as lone
    surrogates, which the info file and the label file cannot hold."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# The info file's fields are separated by spaces (Huawei's benchmark tool splits its lines on whitespace): a name
# holding any whitespace (space, tab, newline) cannot be one of its paths.
WHITESPACE_RULE = "the info file's fields are space-separated"


def has_whitespace(name: str) -> bool:
    """Whether a name holds a space, a tab, a newline or any other whitespace."""
    return any(char.isspace() for char in name)


def entry_problem(path: str | os.PathLike[str], exc: OSError) -> str:
    """Why a folder entry cannot be read, from the OSError its stat raised: a broken symbolic link, a loop of
    symbolic links (Errno 40), or the system's words."""
    target = None
    if os.path.islink(path):
        with contextlib.suppress(OSError):
            target = display_path(os.readlink(path))
    if isinstance(exc, FileNotFoundError):
        return f"broken symbolic link (to {target}, not found)" if target else "vanished"
    if exc.errno == errno.ELOOP and target:
        return f"symbolic link loop (to {target}, which leads back to itself)"
    return f"cannot read: {exc.strerror or exc}"
