"""Project-level rules: scripts stay thin and independent, the project stands alone, every --help says the same.

- No script imports another script: the scripts in the root, the package and the benchmarks import only the
  package (tests may import scripts, to call their main).
- Nothing tracked reads or cites a sibling checkout of shared material; no scaffolding of the refactor is left.
- Every script's --help exits 0, prints its usage first, documents the exit statuses and fits 100 columns.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import REPO_ROOT

HELP_COLUMNS = 100
# The benchmark tool's flags are gflags style; its stand-in asks for help the same way.
HELP_FLAG = {"benchmark_ort.py": "-help"}


def root_module_names(root: Path = REPO_ROOT) -> set[str]:
    """The modules a root .py file defines: what ``import <name>`` would find in the repository's root."""
    return {path.stem for path in root.glob("*.py")}


def imported_modules(source: str) -> set[str]:
    """Top-level names of every module a source imports, also inside functions and via importlib."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])
    return names


def scripts_imported(source: str, own_name: str, scripts: set[str]) -> set[str]:
    """The scripts (other than itself) that a source imports."""
    return (imported_modules(source) & scripts) - {own_name}


def code_that_must_not_import_scripts(root: Path = REPO_ROOT) -> list[Path]:
    package = (root / "shufflenet_ascend").rglob("*.py")
    return sorted([*root.glob("*.py"), *package, *(root / "benchmarks").glob("*.py")])


def tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [REPO_ROOT / name for name in listing.split("\0") if name and (REPO_ROOT / name).is_file()]


def has_main_guard(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name)
            and node.test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators)
        ):
            return True
    return False


ROOT_SCRIPTS = sorted(path.name for path in REPO_ROOT.glob("*.py") if has_main_guard(path))


# ----------------------------------------------------------------------------------------------------------------
# No script imports another script.


def test_the_import_walk_finds_every_form_of_import() -> None:
    scripts = {"parse_perf", "get_info", "report"}
    source = """
import os, parse_perf
from get_info import main as info_main
from shufflenet_ascend import metrics
from . import sibling

def late():
    import importlib
    importlib.import_module("report.sections")
"""
    assert scripts_imported(source, "write_report", scripts) == {"parse_perf", "get_info", "report"}
    assert scripts_imported("import shufflenet_ascend.cli\nimport numpy\n", "x", scripts) == set()
    assert scripts_imported("import parse_perf\n", "parse_perf", scripts) == set(), "a module is not its own import"


def test_the_root_scripts_are_found() -> None:
    names = root_module_names()
    assert {"get_info", "imagenet_acc_eval", "shufflenetv2_pth2onnx"} <= names
    assert "get_info.py" in ROOT_SCRIPTS


@pytest.mark.parametrize("path", code_that_must_not_import_scripts(), ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_no_script_imports_another_script(path: Path) -> None:
    offending = scripts_imported(path.read_text(encoding="utf-8"), path.stem, root_module_names())
    assert not offending, f"{path.relative_to(REPO_ROOT)} imports root scripts {sorted(offending)}: use the package"


# ----------------------------------------------------------------------------------------------------------------
# The project stands alone, without scaffolding.

# Built from pieces, so that this file does not match itself.
OUTSIDE_NEEDLES = ("../" + "shared", "shared" + "/reference")
SCAFFOLDING = re.compile(
    "|".join(
        [
            r"#\s*noqa:\s*F" + "401",
            r"\bowner H\d\b",
            r"\bH\d" + "'s\\b",
            "HAVE_" + "REPORT_WRITER",
        ]
    )
)
SOURCE_SUFFIXES = {".py", ".sh", ".md", ".toml", ".txt", ".cfg", ".ini", ""}


def test_the_scaffolding_pattern_catches_what_it_should() -> None:
    caught = ("import x  # noqa: F" + "401", "see H3" + "'s module", "owner" + " H3", "HAVE_" + "REPORT_WRITER")
    for line in caught:
        assert SCAFFOLDING.search(line), line
    for line in ("import os  # noqa: E402", "SHA2's digest", "the H3 gate"):
        assert not SCAFFOLDING.search(line), line


def test_no_tracked_file_reads_or_cites_shared_material_outside_the_project() -> None:
    offending = [
        f"{path.relative_to(REPO_ROOT)}: {needle}"
        for path in tracked_files()
        for needle in OUTSIDE_NEEDLES
        if needle.encode() in path.read_bytes()
    ]
    assert not offending


def test_no_scaffolding_is_left_in_tracked_source() -> None:
    offending = []
    for path in tracked_files():
        if path.suffix not in SOURCE_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if SCAFFOLDING.search(line):
                offending.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not offending, "\n".join(offending)


# ----------------------------------------------------------------------------------------------------------------
# Every script's --help.


def run_help(script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(HELP_COLUMNS)}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / script), HELP_FLAG.get(script, "--help")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess[str]]:
    """Every script's help, asked for all at once (each start-up imports its libraries)."""
    with ThreadPoolExecutor(max_workers=len(ROOT_SCRIPTS)) as pool:
        return dict(zip(ROOT_SCRIPTS, pool.map(run_help, ROOT_SCRIPTS), strict=True))


@pytest.mark.parametrize("script", ROOT_SCRIPTS)
def test_help_exits_0_with_usage_first(script: str, helps: dict[str, subprocess.CompletedProcess[str]]) -> None:
    done = helps[script]
    assert done.returncode == 0, done.stderr
    first_line = next(line for line in done.stdout.splitlines() if line.strip())
    assert first_line.lower().startswith("usage:"), f"{script} --help starts with {first_line!r}"


@pytest.mark.parametrize("script", ROOT_SCRIPTS)
def test_help_documents_the_exit_statuses(script: str, helps: dict[str, subprocess.CompletedProcess[str]]) -> None:
    text = helps[script].stdout
    start = text.lower().find("exit status")
    assert start >= 0, f"{script} --help does not document its exit statuses"
    assert re.search(r"\b3\b", text[start:]), f"{script} --help does not document exit status 3 (cannot write)"


@pytest.mark.parametrize("script", ROOT_SCRIPTS)
def test_help_fits_the_terminal(script: str, helps: dict[str, subprocess.CompletedProcess[str]]) -> None:
    long_lines = [line for line in helps[script].stdout.splitlines() if len(line) > HELP_COLUMNS]
    assert not long_lines, f"{script} --help has {len(long_lines)} lines over {HELP_COLUMNS} columns: {long_lines[0]!r}"


# ----------------------------------------------------------------------------------------------------------------
# The README: its test command is CI's, and every page it points to exists.


def test_the_readme_test_command_is_what_ci_runs() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = "pip install -r requirements.txt -r requirements-dev.txt && python -m pytest"
    assert command in readme
    assert "-r requirements.txt -r requirements-dev.txt" in ci
    assert re.search(r"^python -m pytest$", ci, re.MULTILINE)


def test_the_readme_links_every_docs_page_and_only_existing_ones() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    pages = {str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "docs").glob("*.md")}
    assert linked == pages
    for page in pages:
        text = (REPO_ROOT / page).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+\.md)", text):
            assert (REPO_ROOT / "docs" / target).is_file(), f"{page} links to {target}, which does not exist"


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_anchor_the_docs_link_to_is_a_heading() -> None:
    assert heading_anchor("Two routes: float32 (the guide's) and uint8") == "two-routes-float32-the-guides-and-uint8"
    assert heading_anchor("The uint8 route: ATC's AIPP") == "the-uint8-route-atcs-aipp"
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target, anchor in re.findall(r"\]\(([^)#:]*\.md)?#([^)]+)\)", page.read_text(encoding="utf-8")):
            linked = (page.parent / target) if target else page
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.MULTILINE)
            if anchor not in {heading_anchor(heading) for heading in headings}:
                broken.append(f"{page.relative_to(REPO_ROOT)}: {target}#{anchor}")
    assert not broken, f"links to headings that do not exist: {broken}"


def test_the_readme_layout_names_every_module_of_the_package() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([a-z_]+\.py|[a-z_]+/) {2,}\S", readme, re.MULTILINE))
    package = REPO_ROOT / "shufflenet_ascend"
    modules = {path.name for path in package.glob("*.py") if path.name != "__init__.py"}
    subpackages = {f"{path.parent.name}/" for path in package.glob("*/__init__.py")}
    assert modules | subpackages <= listed, f"not in the README's layout: {sorted((modules | subpackages) - listed)}"


# ----------------------------------------------------------------------------------------------------------------
# The by-hand commands of the docs work as written, in order, in a fresh folder (issue 17: the README's by-hand
# commands had drifted: a comparison of folders no earlier command made).

BY_HAND_PAGE = REPO_ROOT / "docs" / "by-hand.md"
BY_HAND_START = "<!-- by-hand commands -->"
BY_HAND_ASCEND_START = "<!-- by-hand commands: Ascend host -->"
BY_HAND_END = "<!-- end of by-hand commands -->"
FAKES = REPO_ROOT / "tests" / "fakes"


def by_hand_commands(text: str, start: str = BY_HAND_START) -> list[list[str]]:
    """The command lines of the block after ``start``, each as the argument list a shell would give the program:
    lines ending in a backslash joined to the next, comments and blank lines dropped, quotes read by shlex."""
    if start not in text or BY_HAND_END not in text.split(start, 1)[1]:
        raise ValueError(f"no block between {start!r} and {BY_HAND_END!r}")
    block = text.split(start, 1)[1].split(BY_HAND_END, 1)[0]
    lines = [line for line in block.splitlines() if not line.startswith("```")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


def runnable(argv: list[str]) -> list[str]:
    """``python <script>.py ...`` as this interpreter running the repository's script (the folder is elsewhere);
    ``python3 -m <module>`` as this interpreter too."""
    if argv[0] in ("python", "python3") and len(argv) > 1:
        if (REPO_ROOT / argv[1]).is_file():
            return [sys.executable, str(REPO_ROOT / argv[1]), *argv[2:]]
        if argv[1] == "-m":
            return [sys.executable, *argv[1:]]
    return argv


def run_by_hand(
    commands: list[list[str]], folder: Path, env: dict[str, str], status: Callable[[list[str]], int] = lambda _: 0
) -> None:
    """Run the commands one after the other in ``folder``, each expected to exit with ``status(argv)``."""
    for argv in commands:
        done = subprocess.run(runnable(argv), cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == status(argv), (
            f"{shlex.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )


def test_the_by_hand_block_is_read_as_a_shell_reads_it() -> None:
    text = f"""intro
{BY_HAND_START}
```bash
python a.py x 'two words' \\
    -flag=1   # a comment
# a whole-line comment

python b.py "--label=CPU, 2 cores"
```
{BY_HAND_END}
python c.py outside
{BY_HAND_ASCEND_START}
python3 -m tool --x
{BY_HAND_END}
"""
    assert by_hand_commands(text) == [
        ["python", "a.py", "x", "two words", "-flag=1"],
        ["python", "b.py", "--label=CPU, 2 cores"],
    ]
    assert by_hand_commands(text, BY_HAND_ASCEND_START) == [["python3", "-m", "tool", "--x"]]
    assert runnable(["python", "get_info.py", "bin"])[:2] == [sys.executable, str(REPO_ROOT / "get_info.py")]
    assert runnable(["python3", "-m", "ais_bench"]) == [sys.executable, "-m", "ais_bench"]
    assert runnable(["ls", "-l"]) == ["ls", "-l"]
    with pytest.raises(ValueError):
        by_hand_commands("no markers")


def test_the_readme_steps_are_in_the_by_hand_blocks() -> None:
    """Each script of the README's table of steps is run by the by-hand blocks (Huawei's own tools aside)."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## The guide's steps by hand", 1)[1].split("\n## ", 1)[0]
    in_table = set(re.findall(r"`python3? ([a-z_0-9]+\.py)\b", table))
    page = BY_HAND_PAGE.read_text(encoding="utf-8")
    in_blocks = {argv[1] for start in (BY_HAND_START, BY_HAND_ASCEND_START) for argv in by_hand_commands(page, start)}
    assert in_table, "the README's table of steps names no script"
    assert in_table <= in_blocks, f"in the README's steps but never run by hand: {sorted(in_table - in_blocks)}"


@pytest.fixture(scope="module")
def by_hand_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder after the CPU block of docs/by-hand.md, run as written."""
    folder = tmp_path_factory.mktemp("by_hand")
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    run_by_hand(by_hand_commands(BY_HAND_PAGE.read_text(encoding="utf-8")), folder, env)
    return folder


def test_the_by_hand_commands_work_as_written_in_a_fresh_folder(by_hand_folder: Path) -> None:
    # The folders the later commands read were made by the earlier ones; the block did what it says.
    accuracy = json.loads((by_hand_folder / "result_bs1.json").read_text(encoding="utf-8"))
    assert accuracy["value"][0] == {"key": "Number of images", "value": "8"}
    predictions = (by_hand_folder / "result_bs1_predictions.csv").read_text(encoding="utf-8").splitlines()
    assert len(predictions) == 1 + 8
    comparison = json.loads((by_hand_folder / "compare_bs1_onnx_vs_torch.json").read_text(encoding="utf-8"))
    assert comparison["images_paired"] == 8 and comparison["passed"]
    assert "demo: 8 generated images" in (by_hand_folder / "report.md").read_text(encoding="utf-8")
    assert len(list((by_hand_folder / "prep_uint8").glob("*.bin"))) == 8
    assert len(list((by_hand_folder / "result" / "uint8" / "bs1").glob("*_0.txt"))) == 8
    assert (by_hand_folder / "perf.png").is_file()


def test_the_by_hand_commands_run_again_redo_their_work(tmp_path: Path) -> None:
    """As the page says: run again in the same folder, every line but the demo's (which refuses to replace a
    demo, exit 2) succeeds, replacing its own outputs; no line refuses the outputs of the run before."""
    commands = by_hand_commands(BY_HAND_PAGE.read_text(encoding="utf-8"))
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    run_by_hand(commands, tmp_path, env)
    run_by_hand(commands, tmp_path, env, lambda argv: 2 if argv[1] == "make_demo_dataset.py" else 0)


def test_the_ascend_by_hand_commands_work_as_written_with_the_tools_faked(by_hand_folder: Path) -> None:
    """The Ascend host's block, after the CPU block in the same folder, with atc and ais_bench faked and the
    clone's aipp.config where the block reads it (a user runs it in the clone's folder)."""
    (by_hand_folder / "aipp.config").symlink_to(REPO_ROOT / "aipp.config")
    env = {
        **os.environ,
        "PATH": f"{FAKES / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(FAKES / "python"),
        "FAKE_LABELS": str(by_hand_folder / "demo" / "val_label.txt"),
        "OMP_NUM_THREADS": "1",
    }
    commands = by_hand_commands(BY_HAND_PAGE.read_text(encoding="utf-8"), BY_HAND_ASCEND_START)
    assert any(argv[0] == "atc" for argv in commands) and any("ais_bench" in argv for argv in commands)

    def status(argv: list[str]) -> int:
        # The fake OM's outputs are planted scores, not the model's: against the ONNX model's outputs the
        # comparison runs and fails (exit 1), as it must; on an Ascend host the OM's outputs pass it.
        return 1 if "compare_outputs.py" in argv and "result/dumpOutput_device0/" in argv else 0

    run_by_hand(commands, by_hand_folder, env, status)
    comparison = json.loads((by_hand_folder / "compare_bs1_om_vs_onnx.json").read_text(encoding="utf-8"))
    assert comparison["images_paired"] == 8 and not comparison["passed"]
    accuracy = json.loads((by_hand_folder / "result_om_bs1.json").read_text(encoding="utf-8"))
    assert accuracy["value"][0] == {"key": "Number of images", "value": "8"}
    assert len(list((by_hand_folder / "result" / "om_uint8_bs1").glob("*_0.txt"))) == 8
    # The page says: run them in the clone's folder, everything they write is ignored by git.
    # (a folder with its slash: git matches folder-only patterns such as result/ by the name alone here)
    written = sorted(p.name + "/" * p.is_dir() for p in by_hand_folder.iterdir() if p.name != "aipp.config")
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=REPO_ROOT,
        input="\n".join(written) + "\n",
        capture_output=True,
        text=True,
    )
    ignored = checked.stdout.split()
    assert sorted(ignored) == written, f"not ignored by git: {sorted(set(written) - set(ignored))}"
