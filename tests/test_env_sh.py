"""env.sh: sourcing it without CANN changes nothing; with a CANN tree it sets the variables once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import REPO_ROOT


def source_env(tmp_path: Path, ascend_root: Path, extra: str = "") -> subprocess.CompletedProcess[str]:
    script = f'set -euo pipefail; source "{REPO_ROOT}/env.sh"; source "{REPO_ROOT}/env.sh"; {extra}'
    env = {"PATH": os.environ["PATH"], "ASCEND_ROOT": str(ascend_root), "HOME": str(tmp_path)}
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)


def test_env_sh_without_cann_changes_nothing(tmp_path):
    result = source_env(tmp_path, tmp_path / "none", 'echo "PATH=$PATH"; echo "LD=${LD_LIBRARY_PATH:-unset}"')
    assert result.returncode == 0, result.stderr
    assert f"PATH={os.environ['PATH']}\n" in result.stdout and "LD=unset" in result.stdout
    assert result.stderr.count("no CANN toolkit") == 2 and len(result.stderr.splitlines()) == 2


def test_env_sh_with_cann_501_tree_sets_the_variables_once(tmp_path):
    latest = tmp_path / "Ascend" / "ascend-toolkit" / "latest"
    (latest / "atc" / "bin").mkdir(parents=True)
    result = source_env(
        tmp_path,
        tmp_path / "Ascend",
        'echo "$PATH"; echo "$LD_LIBRARY_PATH"; echo "$PYTHONPATH"; echo "$ASCEND_OPP_PATH"',
    )
    assert result.returncode == 0, result.stderr
    path, ld_library_path, python_path, opp = result.stdout.splitlines()
    assert path.split(":")[:2] == [f"{latest}/atc/bin", f"{latest}/atc/ccec_compiler/bin"]
    assert path.count(f"{latest}/atc/bin") == 1  # sourced twice, added once
    assert ld_library_path == f"{latest}/atc/lib64:{latest}/acllib/lib64"
    assert python_path == f"{latest}/atc/python/site-packages"
    assert opp == f"{latest}/opp"


def test_env_sh_sources_newer_cann_set_env_under_set_u(tmp_path):
    toolkit = tmp_path / "Ascend" / "ascend-toolkit"
    toolkit.mkdir(parents=True)
    # Vendor scripts read unset variables; env.sh must shield them from `set -u` and restore it.
    (toolkit / "set_env.sh").write_text('export MARKER="seen ${SOME_UNSET_VARIABLE}"\n')
    result = source_env(tmp_path, tmp_path / "Ascend", 'echo "$MARKER"; case "$-" in *u*) echo nounset;; esac')
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["seen ", "nounset"]
    assert "set_env.sh" in result.stderr
