"""A file's identity: the same file by content, as far as its metadata can say without reading it.

Size, modification time (ns), inode and inode change time (ctime, ns): a file replaced by another of the same size
under its old modification time (``touch -r``, ``cp -p``, ``mv``) has another inode or a newer ctime (ctime cannot
be set back). The preprocessor's record of what each bin was made from and run_all.sh's freshness of every stage
use this one identity.
"""

from __future__ import annotations

import os
from typing import NamedTuple


class FileIdentity(NamedTuple):
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int


def identity_of(info: os.stat_result) -> FileIdentity:
    return FileIdentity(info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns)


def file_identity(path: str | os.PathLike[str]) -> FileIdentity | None:
    """The identity of PATH (of its target, for a symbolic link); None when there is no such file."""
    try:
        return identity_of(os.stat(path))
    except FileNotFoundError:
        return None
