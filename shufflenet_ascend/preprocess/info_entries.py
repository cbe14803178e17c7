"""The inputs of the info file (guide 4.3): the ``.bin`` files of a folder, or its JPEG images with their sizes.

Paths are the folder as given joined with the file name, in sorted file name order. Hidden files are skipped (the
preprocessing's record ``.prep_sources.json`` among them), and so are entries that are no files: folders silently,
broken symbolic links and loops of them with a warning naming them. A name that is not valid UTF-8 (the info file
is UTF-8 text) or holds whitespace (the fields are space-separated) is refused, naming it.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from shufflenet_ascend.cli import EXIT_CHECK_FAILED, PipelineError
from shufflenet_ascend.formats.info import InfoEntry
from shufflenet_ascend.keys import IMAGE_EXTENSIONS
from shufflenet_ascend.preprocess.names import WHITESPACE_RULE, display_path, entry_problem, has_whitespace, is_utf8

LOG = logging.getLogger(__name__)

BIN_EXTENSIONS = frozenset({".bin"})
JPEG_EXTENSIONS = IMAGE_EXTENSIONS & {".jpg", ".jpeg"}


def list_files(directory: str, extensions: frozenset[str]) -> list[str]:
    """Paths (``directory`` as given, joined with the name) of its non-hidden files with these extensions, sorted."""
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except FileNotFoundError:
        raise PipelineError(f"{directory}: folder not found") from None
    except NotADirectoryError:
        raise PipelineError(f"{directory}: is not a folder") from None
    except PermissionError:
        raise PipelineError(f"{directory}: folder is not readable") from None
    except OSError as exc:  # a symbolic link loop (Errno 40), an I/O error
        raise PipelineError(f"{display_path(directory)}: {entry_problem(directory, exc)}") from None
    paths = [
        os.path.join(directory, entry.name)
        for entry in entries
        if not entry.name.startswith(".") and Path(entry.name).suffix.lower() in extensions and is_regular_file(entry)
    ]
    if not paths:
        wanted = "/".join(sorted(extensions))
        raise PipelineError(f"{display_path(directory)}: no {wanted} files in this folder")
    if not is_utf8(directory):
        raise PipelineError(
            f"{display_path(directory)}: the folder's name is not valid UTF-8; the info file is "
            "UTF-8 text: rename it or give it through a symbolic link"
        )
    not_utf8 = [path for path in paths if not is_utf8(path)]
    if not_utf8:
        raise PipelineError(
            f"{display_path(directory)}: file name {display_path(os.path.basename(not_utf8[0]))} "
            f"is not valid UTF-8 ({len(not_utf8)} such names); the info file is UTF-8 text: "
            "rename them"
        )
    spaced = [path for path in paths if has_whitespace(path)]
    if spaced:
        raise PipelineError(f"{display_path(spaced[0])}: {WHITESPACE_RULE}; rename files with spaces")
    return paths


def is_regular_file(entry: os.DirEntry) -> bool:
    """Whether a folder entry is a file (through symbolic links); one that cannot be read (a broken symbolic link,
    a loop of them) is not, and a warning names it."""
    try:
        return stat.S_ISREG(entry.stat().st_mode)
    except OSError as exc:
        LOG.warning("%s: skipped: %s", display_path(entry.path), entry_problem(entry.path, exc))
        return False


def bin_info_entries(directory: str, width: int, height: int) -> list[InfoEntry]:
    """Every ``.bin`` of ``directory``, each with the given input width and height."""
    return [InfoEntry(index, path, width, height) for index, path in enumerate(list_files(directory, BIN_EXTENSIONS))]


def jpeg_size(path: str) -> tuple[int, int]:
    """(width, height) from the header; raises PipelineError (exit status 1) for a file that is not an image or
    that Pillow refuses as a decompression bomb. Pillow's warnings are logged with the file's name."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with Image.open(path) as image:  # reads the header only: no .load(), no pixel decoding
                size = image.size
        except UnidentifiedImageError:
            raise PipelineError(f"{path}: not an image (PIL cannot identify it)", EXIT_CHECK_FAILED) from None
        except Image.DecompressionBombError as exc:
            raise PipelineError(
                f"{path}: refused by Pillow as a possible decompression bomb: {exc}", EXIT_CHECK_FAILED
            ) from None
        except OSError as exc:
            raise PipelineError(f"{path}: cannot read: {exc.strerror or exc}", EXIT_CHECK_FAILED) from None
    for warning in caught:
        LOG.warning("%s: %s: %s", path, warning.category.__name__, warning.message)
    return size


def jpg_info_entries(directory: str) -> list[InfoEntry]:
    """Every .jpg/.jpeg of ``directory`` with its real width and height."""
    return [
        InfoEntry(index, path, *jpeg_size(path)) for index, path in enumerate(list_files(directory, JPEG_EXTENSIONS))
    ]
