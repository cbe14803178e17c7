"""What ran a step: this machine's CPU and the project's version, for run records and reports."""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where there is one: containers and taskset narrow it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (/proc/cpuinfo, else the platform module), e.g. ``AMD EPYC 7B13``."""
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(errors="replace"), re.MULTILINE)
    except OSError:
        match = None
    return (match[1].strip() if match else "") or platform.processor() or f"{platform.machine()} CPU"


@functools.cache
def project_version() -> str:
    """The git commit of this checkout (with ``+changes`` when the work tree differs), or ``unknown`` without git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPOSITORY), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if commit.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(REPOSITORY), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
