"""compare_outputs.py: every printed figure against a value computed here, independently, on crafted dumps."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from shufflenet_ascend import comparison
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.formats.dump import (
    dump_file_name,
    format_dump_line,
    parse_text_dumps,
    read_dump,
    read_dumps,
    write_dump,
)
from shufflenet_ascend.formats.labels import format_labels
from shufflenet_ascend.metrics import top_k

CLASSES = 1000
NOISE = 0.01


def logits(rng: np.random.Generator) -> np.ndarray:
    """Distinct scores with real spread (no ties among the top classes)."""
    return (rng.permutation(CLASSES) * 0.01 + rng.normal(0.0, 0.001, CLASSES)).astype(np.float32)


def crafted(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Reference and candidate outputs with known differences, by key."""
    keys = [f"ILSVRC2012_val_{n:08d}" for n in range(1, 9)]
    reference = {key: logits(rng) for key in keys}
    candidate = {key: value.copy() for key, value in reference.items()}
    ranked = {key: np.argsort(-value) for key, value in reference.items()}
    # 1: identical. 2: top-1 flipped (first and second swapped; the top-5 set stays).
    a, b = ranked[keys[1]][:2]
    candidate[keys[1]][[a, b]] = candidate[keys[1]][[b, a]]
    # 3: scaled by 1.5: cosine 1, relative error 0.5, same ranking.
    candidate[keys[2]] = (reference[keys[2]] * np.float32(1.5)).astype(np.float32)
    # 4: noise of a known size: +-NOISE on every value.
    signs = np.where(rng.random(CLASSES) < 0.5, -1.0, 1.0)
    candidate[keys[3]] = (reference[keys[3]].astype(np.float64) + NOISE * signs).astype(np.float32)
    # 5: the sixth class lifted into the top five (top-1 kept, top-5 set changed).
    fifth, sixth = ranked[keys[4]][4], ranked[keys[4]][5]
    candidate[keys[4]][sixth] = reference[keys[4]][fifth] + np.float32(0.005)
    # 6: a very different output (low cosine).
    candidate[keys[5]] = logits(rng)
    # 7 only in the reference, 8 only in the candidate.
    del candidate[keys[6]]
    del reference[keys[7]]
    return reference, candidate


def write_folder(folder: Path, outputs: dict[str, np.ndarray], binary: bool = False, number: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, values in outputs.items():
        write_dump(folder / dump_file_name(key, binary, number), values, binary)
    return folder


def expected_figures(
    reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], labels: dict[str, int]
) -> dict:
    """The figures, one image at a time with plain Python arithmetic (math.fsum), not the script's code."""
    keys = sorted(set(reference) & set(candidate))
    cosines, max_abs, relative, top1_same, top5_same = {}, {}, {}, [], []
    ref_hits1 = cand_hits1 = ref_hits5 = cand_hits5 = 0
    lost, gained = [], []
    for key in keys:
        r = [float(v) for v in reference[key]]
        c = [float(v) for v in candidate[key]]
        dot = math.fsum(x * y for x, y in zip(r, c, strict=False))
        cosines[key] = dot / math.sqrt(math.fsum(x * x for x in r) * math.fsum(y * y for y in c))
        max_abs[key] = max(abs(x - y) for x, y in zip(r, c, strict=False))
        relative[key] = max_abs[key] / max(abs(x) for x in r)
        r_order = sorted(range(CLASSES), key=lambda i: -r[i])
        c_order = sorted(range(CLASSES), key=lambda i: -c[i])
        top1_same.append(r_order[0] == c_order[0])
        top5_same.append(set(r_order[:5]) == set(c_order[:5]))
        label = labels[key]
        ref_hits1 += r_order[0] == label
        cand_hits1 += c_order[0] == label
        ref_hits5 += label in r_order[:5]
        cand_hits5 += label in c_order[:5]
        if r_order[0] == label and c_order[0] != label:
            lost.append(key)
        if c_order[0] == label and r_order[0] != label:
            gained.append(key)
    ordered = sorted(cosines.values())
    position = 0.01 * (len(ordered) - 1)  # the 1st percentile, linear interpolation between order statistics
    low = math.floor(position)
    p1 = ordered[low] + (ordered[min(low + 1, len(ordered) - 1)] - ordered[low]) * (position - low)
    n = len(keys)
    return {
        "keys": keys,
        "cosines": cosines,
        "max_abs": max_abs,
        "relative": relative,
        "min": ordered[0],
        "mean": math.fsum(ordered) / n,
        "p1": p1,
        "max_abs_error": max(max_abs.values()),
        "max_relative_error": max(relative.values()),
        "top1": 100.0 * sum(top1_same) / n,
        "top5": 100.0 * sum(top5_same) / n,
        "ref_top1": 100.0 * ref_hits1 / n,
        "ref_top5": 100.0 * ref_hits5 / n,
        "cand_top1": 100.0 * cand_hits1 / n,
        "cand_top5": 100.0 * cand_hits5 / n,
        "lost": lost,
        "gained": gained,
    }


@pytest.fixture
def case(tmp_path):
    rng = np.random.default_rng(7)
    reference, candidate = crafted(rng)
    keys = sorted(set(reference) | set(candidate))
    # Labels: image 2's reference top-1 (its candidate flips away: reference right, candidate wrong); image 6's
    # candidate top-1 (candidate right, reference wrong); elsewhere the reference's top-1.
    labels = {key: int(np.argmax(reference.get(key, candidate.get(key)))) for key in keys}
    labels[keys[5]] = int(np.argmax(candidate[keys[5]]))
    label_file = tmp_path / "val_label.txt"
    label_file.write_text(format_labels({f"{key}.JPEG": label for key, label in labels.items()}))
    ref_dir = write_folder(tmp_path / "reference", reference)
    cand_dir = write_folder(tmp_path / "candidate", candidate, binary=True)
    return reference, candidate, labels, label_file, ref_dir, cand_dir


def printed(stdout: str, name: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith(name))
    return line[len(name) :].strip()


def number(text: str) -> float:
    return float(re.match(r"[-+0-9.e]+", text)[0])


def test_every_printed_figure_equals_an_independent_computation(case, run_script, tmp_path):
    reference, candidate, labels, label_file, ref_dir, cand_dir = case
    want = expected_figures(reference, candidate, labels)
    keys = want["keys"]
    # The crafted differences are what they claim to be.
    assert want["cosines"][keys[0]] == 1.0 and want["max_abs"][keys[0]] == 0.0
    assert want["cosines"][keys[2]] == pytest.approx(1.0, abs=1e-12)
    assert want["relative"][keys[2]] == pytest.approx(0.5, rel=1e-6)
    assert want["max_abs"][keys[3]] == pytest.approx(NOISE, rel=1e-3)
    assert want["lost"] == [keys[1]] and want["gained"] == [keys[5]]

    result = run_script(
        "compare_outputs.py",
        ref_dir,
        cand_dir,
        "--labels",
        label_file,
        "--json",
        tmp_path / "cmp.json",
        "--worst",
        3,
        "--min-cosine",
        -1,
        "--allow-partial",  # the reference's image 7 has no candidate (issue 18: refused without the flag)
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert printed(out, "images paired:").startswith("6 (1000 values each)")
    assert printed(out, "only in reference:") == f"1 ({'ILSVRC2012_val_00000007'})"
    assert printed(out, "only in candidate:") == f"1 ({'ILSVRC2012_val_00000008'})"
    for name, key in (("cosine min:", "min"), ("cosine mean:", "mean"), ("cosine 1st percentile:", "p1")):
        assert number(printed(out, name)) == pytest.approx(want[key], abs=6e-9), name
    assert printed(out, "cosine min:").endswith(f"({keys[5]})")
    assert number(printed(out, "max abs error:")) == pytest.approx(want["max_abs_error"], rel=1e-5)
    assert number(printed(out, "max relative error:")) == pytest.approx(want["max_relative_error"], rel=1e-5)
    assert printed(out, "max relative error:").endswith(f"({keys[5]})")
    # Top-1 differs on images 2 and 6 of 6; the top-5 set on images 5 and 6.
    assert want["top1"] == pytest.approx(100 * 4 / 6) and want["top5"] == pytest.approx(100 * 4 / 6)
    assert printed(out, "top-1 agreement:") == f"{want['top1']:.2f}% (2 images differ)"
    assert printed(out, "top-5 set agreement:") == f"{want['top5']:.2f}% (2 images differ)"
    assert printed(out, "reference accuracy:").startswith(
        f"top-1 {want['ref_top1']:.2f}%  top-5 {want['ref_top5']:.2f}%  (6 labelled images)"
    )
    assert printed(out, "candidate accuracy:") == f"top-1 {want['cand_top1']:.2f}%  top-5 {want['cand_top5']:.2f}%"
    assert printed(out, "top-1 flips, reference right, candidate wrong:") == f"1 ({keys[1]})"
    assert printed(out, "top-1 flips, candidate right, reference wrong:") == f"1 ({keys[5]})"
    worst_rows = out.split("worst 3 images by cosine:\n")[1].splitlines()[1:4]
    want_worst = sorted(keys, key=lambda key: (want["cosines"][key], key))[:3]
    assert [row.split()[0] for row in worst_rows] == want_worst
    for row, key in zip(worst_rows, want_worst, strict=False):
        fields = row.split()
        assert float(fields[1]) == pytest.approx(want["cosines"][key], abs=6e-9)
        assert float(fields[2]) == pytest.approx(want["max_abs"][key], rel=1e-5)
        assert fields[3] == f"{np.argmax(reference[key])}/{np.argmax(candidate[key])}"

    document = json.loads((tmp_path / "cmp.json").read_text())
    assert document["images_paired"] == 6 and document["values_per_image"] == CLASSES
    assert document["only_in_reference"] == {"count": 1, "keys": ["ILSVRC2012_val_00000007"]}
    assert document["only_in_candidate"] == {"count": 1, "keys": ["ILSVRC2012_val_00000008"]}
    assert document["cosine"]["min"] == pytest.approx(want["min"], rel=1e-12)
    assert document["cosine"]["mean"] == pytest.approx(want["mean"], rel=1e-12)
    assert document["cosine"]["p1"] == pytest.approx(want["p1"], rel=1e-12)
    assert document["max_abs_error"]["value"] == pytest.approx(want["max_abs_error"], rel=1e-12)
    assert document["max_relative_error"]["value"] == pytest.approx(want["max_relative_error"], rel=1e-12)
    assert document["top1_agreement_percent"] == pytest.approx(want["top1"])
    assert document["top5_set_agreement_percent"] == pytest.approx(want["top5"])
    assert [row["key"] for row in document["worst"]] == want_worst
    labelled = document["labels"]
    assert (labelled["reference_top1_percent"], labelled["candidate_top1_percent"]) == pytest.approx(
        (want["ref_top1"], want["cand_top1"])
    )
    assert (labelled["reference_top5_percent"], labelled["candidate_top5_percent"]) == pytest.approx(
        (want["ref_top5"], want["cand_top5"])
    )
    assert labelled["reference_right_candidate_wrong"] == {"count": 1, "keys": [keys[1]]}
    assert labelled["candidate_right_reference_wrong"] == {"count": 1, "keys": [keys[5]]}
    assert document["passed"] is True and document["failures"] == []


def test_thresholds_fail_with_exit_1_naming_the_figure(case, run_script, tmp_path):
    *_, ref_dir, cand_dir = case
    # The case's image 7 has no candidate: accepted here (--allow-partial), these are the thresholds' tests.
    result = run_script("compare_outputs.py", ref_dir, cand_dir, "--allow-partial")  # image 6 misses cosine 0.99
    assert result.returncode == 1, result.stderr
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and "min cosine" in fails[0] and "--min-cosine 0.99" in fails[0]

    result = run_script(
        "compare_outputs.py",
        ref_dir,
        cand_dir,
        "--min-cosine",
        -1,
        "--min-top1-agreement",
        70,
        "--json",
        tmp_path / "cmp.json",
        "--allow-partial",
    )
    assert result.returncode == 1
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert fails == ["FAIL: top-1 agreement 66.67% < --min-top1-agreement 70%"]
    document = json.loads((tmp_path / "cmp.json").read_text())
    assert document["passed"] is False and document["failures"] == [fails[0][len("FAIL: ") :]]

    result = run_script(
        "compare_outputs.py", ref_dir, cand_dir, "--min-cosine", -1, "--min-top1-agreement", 66, "--allow-partial"
    )
    assert result.returncode == 0 and "PASS" in result.stdout


def test_identical_folders_and_ais_bench_outputs(tmp_path, run_script):
    """The old tool's _1.txt against ais_bench's _0.txt (printed with %f): same values to 6 decimals."""
    rng = np.random.default_rng(1)
    outputs = {f"img{n}": logits(rng) for n in range(5)}
    ref_dir = write_folder(tmp_path / "old", outputs)
    ais = tmp_path / "ais"
    ais.mkdir()
    for key, values in outputs.items():
        (ais / f"{key}_0.txt").write_text("".join(f"{value:f} " for value in values.tolist()) + "\n")
    result = run_script("compare_outputs.py", ref_dir, ais, "--min-top1-agreement", 100, "--worst", 0)
    assert result.returncode == 0, result.stderr
    assert printed(result.stdout, "top-1 agreement:") == "100.00% (0 images differ)"
    # %f keeps 6 decimals, read back as float32.
    want = max(
        abs(float(np.float32(f"{value:f}")) - float(value)) for values in outputs.values() for value in values.tolist()
    )
    assert 0 < want < 1e-6
    assert number(printed(result.stdout, "max abs error:")) == pytest.approx(want, rel=1e-5)
    assert "worst" not in result.stdout
    same = run_script("compare_outputs.py", ref_dir, ref_dir)
    assert printed(same.stdout, "cosine min:").startswith("1.00000000")
    assert number(printed(same.stdout, "max abs error:")) == 0.0


def test_parallel_reading_gives_the_same_figures(case, monkeypatch):
    *_, label_file, ref_dir, cand_dir = case
    serial = comparison.compare_folders(ref_dir, cand_dir, labels_path=label_file, workers=1)
    monkeypatch.setattr(comparison, "CHUNK", 2)
    monkeypatch.setattr(comparison, "SERIAL_BELOW", 2)
    parallel = comparison.compare_folders(ref_dir, cand_dir, labels_path=label_file, workers=2)
    assert parallel == serial


def test_a_bad_file_in_a_worker_is_one_clear_error(case, monkeypatch):
    *_, ref_dir, cand_dir = case
    (cand_dir / "ILSVRC2012_val_00000004_1.bin").write_bytes(np.full(CLASSES, np.nan, np.float32).tobytes())
    monkeypatch.setattr(comparison, "CHUNK", 2)
    monkeypatch.setattr(comparison, "SERIAL_BELOW", 2)
    with pytest.raises(PipelineError, match=r"ILSVRC2012_val_00000004_1\.bin: contains NaN or infinite values"):
        comparison.compare_folders(ref_dir, cand_dir, workers=2)


def one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("compare_outputs.py: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_inputs_end_in_one_clear_line(tmp_path, run_script):
    rng = np.random.default_rng(2)
    good = write_folder(tmp_path / "good", {f"a{n}": logits(rng) for n in range(3)})
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(run_script("compare_outputs.py", good, empty), "empty", "no outputs")
    one_line_error(run_script("compare_outputs.py", good, tmp_path / "nowhere"), "nowhere", "not found")
    other = write_folder(tmp_path / "other", {f"b{n}": logits(rng) for n in range(3)})
    one_line_error(run_script("compare_outputs.py", good, other), "no image in common")

    shorter = write_folder(tmp_path / "shorter", {f"a{n}": logits(rng)[:999] for n in range(3)})
    one_line_error(run_script("compare_outputs.py", good, shorter), "a0_1.txt", "999 values, expected 1000")
    uneven = write_folder(tmp_path / "uneven", {"a0": logits(rng), "a1": logits(rng)[:500], "a2": logits(rng)})
    one_line_error(run_script("compare_outputs.py", uneven, good), "a1_1.txt", "500 values, expected 1000")

    nan = write_folder(tmp_path / "nan", {f"a{n}": logits(rng) for n in range(3)})
    values = logits(rng)
    values[17] = np.nan
    write_dump(nan / "a2_1.txt", values, False)
    one_line_error(run_script("compare_outputs.py", good, nan), "a2_1.txt", "NaN")

    garbage = write_folder(tmp_path / "garbage", {f"a{n}": logits(rng) for n in range(3)})
    (garbage / "a1_1.txt").write_text("1.0 2.0 abc\n")
    one_line_error(run_script("compare_outputs.py", good, garbage), "a1_1.txt", "not a dump file")

    mixed = write_folder(tmp_path / "mixed", {"a0": logits(rng)})
    write_folder(mixed, {"a1": logits(rng)}, number=0)
    one_line_error(run_script("compare_outputs.py", mixed, good), "mixes outputs")

    labels = tmp_path / "labels.txt"
    labels.write_text("a0.JPEG 1\n")
    one_line_error(run_script("compare_outputs.py", good, good, "--labels", labels), "no label for 2 paired images")
    one_line_error(
        run_script("compare_outputs.py", good, good, "--json", tmp_path / "no" / "out.json"), "does not exist"
    )
    assert not list(tmp_path.glob("*.json"))


def text_forms(values: np.ndarray) -> dict[str, bytes]:
    """One output row as each tool prints it, and in other notations."""
    as_list = values.tolist()
    return {
        "%.8e": write_line(values),
        "%f": ("".join(f"{value:f} " for value in as_list) + "\n").encode(),
        "%g": (" ".join(f"{value:g}" for value in as_list) + "\n").encode(),
        "mixed": " ".join(
            f"{value:.8e}" if i % 3 == 0 else f"{value:f}" if i % 3 == 1 else f"{value:+.3f}"
            for i, value in enumerate(as_list)
        ).encode(),
    }


def write_line(values: np.ndarray) -> bytes:
    return format_dump_line(values).encode()


@pytest.mark.parametrize("form", ["%.8e", "%f", "%g", "mixed"])
def test_text_parsing_gives_read_dumps_float32_values(form, tmp_path):
    """The fast parser of text dumps: the same float32 as read_dump (np.float32 of each token), signs included,
    over a wide range of magnitudes; or None, and the file is read by read_dump."""
    rng = np.random.default_rng(3)
    rows = (rng.normal(0.0, 4.0, (40, 300)) * 10.0 ** rng.integers(-12, 10, (40, 300))).astype(np.float32)
    rows[0, :8] = [0.0, -0.0, 1e-40, -1e-45, 3.4e38, -123456789.0, 1e-7, 99999.99]
    if form in ("%f", "mixed"):
        rows = np.clip(rows, -9e8, 9e8)
    texts = [text_forms(row)[form] for row in rows]
    paths = []
    for number, text in enumerate(texts):
        paths.append(str(tmp_path / f"k{number}_1.txt"))
        Path(paths[-1]).write_bytes(text)
    want = np.array([read_dump(path) for path in paths])
    parsed = parse_text_dumps(texts, rows.shape[1])
    if form in ("%.8e", "%f"):
        assert parsed is not None
    if parsed is not None:
        assert np.array_equal(parsed, want) and np.array_equal(np.signbit(parsed), np.signbit(want))
    got = read_dumps(paths, rows.shape[1])
    assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


def test_text_parsing_refuses_what_is_not_exactly_the_numbers():
    parse = parse_text_dumps
    assert parse([b"1.00000000e+00 -2.500000 \n"], 2).tolist() == [[1.0, -2.5]]
    tokens = [f"{value:.8e}" for value in range(1000)]
    tokens[7] = "nan"  # a rare other token is parsed by float(); the checks after parsing name the file
    parsed = parse([" ".join(tokens).encode()], 1000)
    assert np.isnan(parsed[0, 7]) and parsed[0, 8] == 8.0
    good = [f"{value:.8e}" for value in range(300)]
    assert parse([" ".join(good).encode()], 300) is not None
    odd = list(good)
    odd[5] = "1.0000000e+001"  # valid, in no fixed form: float() reads it
    assert parse([" ".join(odd).encode()], 300)[0, 5] == 10.0
    for bad in ("abc", "1.00000000e+0a", "1.00000000e+", "1-000000", "--1.000000", "1.00000x", "1\x01"):
        tokens = list(good)
        tokens[5] = bad
        assert parse([" ".join(tokens).encode()], 300) is None, bad
    assert parse([" ".join(good[:-1]).encode()], 300) is None  # one value short
    assert parse([" ".join(good).encode(), " ".join(good[1:]).encode()], 300) is None  # one file short
    two_lines = (" ".join(good) + "\n" + " ".join(good[:5]) + "\n").encode()
    # Two lines are two images' scores in one file: refused (issue 18), read_dump then names the file.
    assert parse([two_lines], 300) is None


def test_top_k_is_a_stable_sorts_first_k_ties_included():
    rng = np.random.default_rng(4)
    for trial in range(60):
        scores = rng.integers(0, 1 + trial % 7, (30, 40)).astype(np.float64)  # many ties
        if trial % 4 == 0:
            scores = rng.normal(size=(30, 40))
        scores[0] = 0.0
        scores[1, :3] = -0.0
        for k in (1, 5, 39, 40, 41):
            expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            assert np.array_equal(top_k(scores, k), expected), (trial, k)
