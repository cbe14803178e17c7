"""Step 4.3 of the guide: write the info file that tells the benchmark tool which inputs to run.

    python get_info.py bin ./prep_dataset ./shufflenetv2_prep_bin.info 224 224
    python get_info.py jpg /root/datasets/imagenet/val ./shufflenetv2_jpg.info

One line per input, ``<index> <path> <width> <height>``, in sorted file name order with indices 0..N-1.
Paths are DIR as given joined with the file name (``./prep_dataset/x.bin`` stays relative).
bin mode lists every ``*.bin`` of DIR with the WIDTH and HEIGHT given (the preprocessed size, 224 224);
jpg mode lists every .jpg/.jpeg (any case) with its real size, read from the file header (pixels are not decoded).
Hidden files are skipped (the preprocessing's record ``.prep_sources.json`` among them). The file is written
under a temporary name and renamed when complete. A file name that is not valid UTF-8 (the info file is UTF-8
text) or holds a space (the fields are space-separated) is refused, naming it.
"""

from __future__ import annotations

import argparse
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from shufflenet_ascend.cli import PipelineError, run_cli, setup_logging
from shufflenet_ascend.fileio import check_output_file, write_errors_named
from shufflenet_ascend.formats.info import InfoEntry, write_info

LOG = logging.getLogger(Path(__file__).stem)

BIN_EXTENSIONS = frozenset({".bin"})
JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})


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
    paths = [
        os.path.join(directory, entry.name)
        for entry in entries
        if not entry.name.startswith(".") and Path(entry.name).suffix.lower() in extensions and entry.is_file()
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
    spaced = [path for path in paths if any(char.isspace() for char in path)]
    if spaced:
        raise PipelineError(
            f"{display_path(spaced[0])}: the info file's fields are space-separated; rename files with spaces"
        )
    return paths


def display_path(path: str) -> str:
    """A path as printable UTF-8 text: bytes that are not UTF-8 as ``\\xe9``; control characters through repr."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else repr(text)


def is_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir and sys.argv give undecodable bytes as lone surrogates
        return False
    return True


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
            raise PipelineError(f"{path}: not an image (PIL cannot identify it)", exit_code=1) from None
        except Image.DecompressionBombError as exc:
            raise PipelineError(
                f"{path}: refused by Pillow as a possible decompression bomb: {exc}", exit_code=1
            ) from None
        except OSError as exc:
            raise PipelineError(f"{path}: cannot read: {exc.strerror or exc}", exit_code=1) from None
    for warning in caught:
        LOG.warning("%s: %s: %s", path, warning.category.__name__, warning.message)
    return size


def jpg_info_entries(directory: str) -> list[InfoEntry]:
    """Every .jpg/.jpeg of ``directory`` with its real width and height."""
    return [
        InfoEntry(index, path, *jpeg_size(path)) for index, path in enumerate(list_files(directory, JPEG_EXTENSIONS))
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 written; 1 an image in jpg mode cannot be read; 2 bad arguments, a missing DIR, "
        "a DIR without matching files, a file name that is not UTF-8 or has a space, or OUT.info cannot be "
        "written (disk full). Nothing is written unless the status is 0.",
    )
    modes = parser.add_subparsers(
        dest="mode",
        metavar="MODE",
        required=True,
        help="bin: preprocessed .bin files; jpg: JPEG images (see MODE --help)",
    )
    bin_mode = modes.add_parser(
        "bin",
        help="list the .bin files of DIR with a given width and height",
        description="List every .bin of DIR with the given width and height.",
    )
    jpg_mode = modes.add_parser(
        "jpg",
        help="list the .jpg/.jpeg files of DIR with their real sizes",
        description="List every .jpg/.jpeg (any case) of DIR with its width and height from the file header.",
    )
    for mode_parser in (bin_mode, jpg_mode):
        mode_parser.add_argument("dir", metavar="DIR", help="folder of the inputs; paths are written as given")
        mode_parser.add_argument("out", metavar="OUT.info", help="info file to write (replaced if it exists)")
    bin_mode.add_argument("width", metavar="WIDTH", type=int, help="input width of the model (224)")
    bin_mode.add_argument("height", metavar="HEIGHT", type=int, help="input height of the model (224)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    if args.mode == "bin" and (args.width < 1 or args.height < 1):
        raise PipelineError(f"WIDTH and HEIGHT must be positive, got {args.width} {args.height}")
    check_output_file(args.out)
    if args.mode == "bin":
        entries = bin_info_entries(args.dir, args.width, args.height)
    else:
        entries = jpg_info_entries(args.dir)
    with write_errors_named(args.out, "the info file"):
        write_info(args.out, entries)
    LOG.info("%s: %d %s inputs", args.out, len(entries), args.mode)
    return 0


if __name__ == "__main__":
    run_cli(main)
