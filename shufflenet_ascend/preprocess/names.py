"""File names as the pipeline's text files hold them: UTF-8, one line each."""

from __future__ import annotations

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
