"""Shared test fixtures: where the repository and the test data are, how to run a script, full disks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = Path(__file__).resolve().parent / "data"  # facts the tests need, e.g. the checkpoints' state_dict table


@pytest.fixture
def run_script(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run one of the repository's scripts as a user would: ``run_script("get_info.py", "bin", ...)``.

    Runs in ``cwd`` (default: the test's tmp_path) and returns the completed process with text stdout/stderr.
    """

    def run(
        script: str, *args: object, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(
            [sys.executable, str(REPO_ROOT / script), *map(str, args)],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


# --------------------------------------------------------------------------------------------------------------
# A full disk, for the tests of "one line naming the file, nothing half-written".


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "16m", inodes: int | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes (and ``inodes`` files) at ``folder``; skips the test where it cannot be mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (f",nr_inodes={inodes}" if inodes else "")
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill_disk(folder: Path) -> None:
    """Use up the free space of ``folder``'s disk."""
    with open(folder / "filler", "wb") as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()


def _can_mount_a_private_tmpfs() -> bool:
    try:
        return (
            subprocess.run(
                [
                    "unshare",
                    "--user",
                    "--map-root-user",
                    "--mount",
                    "sh",
                    "-c",
                    "mount -t tmpfs -o size=16k tmpfs /tmp",
                ],
                capture_output=True,
                timeout=30,
            ).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


needs_private_tmpfs = pytest.mark.skipif(
    not _can_mount_a_private_tmpfs(), reason="needs unshare --user --mount to simulate a full disk"
)


def run_on_full_disk(
    script: str, mount: Path, *args: object, cwd: Path
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run a script as a user would, with the folder ``mount`` replaced by a 16 kB tmpfs filled to the last byte
    (in a private mount namespace: nothing outside the test sees it). Returns the process and what the folder held
    when the script had finished (the tmpfs vanishes with the namespace)."""
    mount.mkdir(exist_ok=True)
    shell = (
        'mount -t tmpfs -o size=16k tmpfs "$0" || exit 99; cat /dev/zero > "$0/filler" 2>/dev/null; '
        '"$@" 2>&1 >/dev/null; status=$?; echo "--- listing"; ls -A "$0"; exit $status'
    )
    process = subprocess.run(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            shell,
            str(mount),
            sys.executable,
            str(REPO_ROOT / script),
            *map(str, args),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode != 99, process.stderr
    output, _, listing = process.stdout.partition("--- listing\n")
    return subprocess.CompletedProcess(process.args, process.returncode, "", output), listing.split()


# --------------------------------------------------------------------------------------------------------------
# The rules' audit (tests/test_rule_*.py): a refused command leaves one line, its status, and the files as they were.


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: a regular file by its SHA-256, anything else (folder, FIFO, link) by its kind;
    special files are never opened (reading a FIFO would block)."""
    import hashlib
    import stat

    found = {}
    for path in sorted(folder.rglob("*")):
        mode = path.lstat().st_mode
        name = str(path.relative_to(folder))
        if stat.S_ISREG(mode):
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(mode):
            found[name] = f"link to {os.readlink(path)}"
        else:
            found[name] = "folder" if stat.S_ISDIR(mode) else f"mode {stat.S_IFMT(mode):o}"
    return found


def assert_one_line(result: subprocess.CompletedProcess[str], status: int, *fragments: str) -> None:
    """The rule's end of a refused or failed command: exit ``status``, one line on stderr holding ``fragments``,
    no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == status, (result.returncode, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


@pytest.fixture(scope="session")
def rule_demo_run(tmp_path_factory: pytest.TempPathFactory):
    """One finished ``bash run_all.sh --batch-sizes 1`` on the demo in a fresh clone, shared by the rule tests of
    issue 25 (tests/test_rule_*.py): (the clone, the completed process)."""
    from test_run_all import clone_working_tree, run_all

    clone = clone_working_tree(tmp_path_factory.mktemp("rules"))
    result = run_all("--batch-sizes", "1", cwd=clone, script=clone / "run_all.sh")
    assert result.returncode == 0, result.stdout + result.stderr
    return clone, result
