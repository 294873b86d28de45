"""``kbench bisect``: the search's order and conclusions over a known slowdown, skipped builds,
the pinned constraints; end to end over a real version range of the package index (e2e)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.bisect.candidates import Candidate, checkout, commit_range
from harness.bisect.environments import extras_for, pinned_constraints
from harness.bisect.search import GateStep, bisect
from harness.errors import HarnessError

VERSIONS = [f"3.{minor}.0" for minor in range(8, 16)]  # 3.8.0 .. 3.15.0


def _candidates() -> list[Candidate]:
    return [Candidate(v, f"keras=={v}") for v in VERSIONS]


def _gate_with_slowdown_from(first_slow: str | None):
    """A gate over version labels: B regressed against A when the slowdown lies in (A, B]."""
    order = {v: i for i, v in enumerate(VERSIONS)}

    def gate(a: Candidate, b: Candidate) -> GateStep:
        slow = first_slow is not None and order[a.label] < order[first_slow] <= order[b.label]
        return GateStep(a.label, b.label, slow)

    return gate


@pytest.mark.parametrize("first_slow", VERSIONS[1:])
def test_the_search_names_the_first_version_whose_gate_flags(first_slow):
    record = bisect("keras", _candidates(), lambda c: "", _gate_with_slowdown_from(first_slow))
    assert record.first_bad == first_slow
    assert record.last_good == VERSIONS[VERSIONS.index(first_slow) - 1]
    assert (record.steps[0].a, record.steps[0].b) == (VERSIONS[0], VERSIONS[-1])
    final = record.steps[-1]
    assert final.regressed
    assert (final.a, final.b) == (record.last_good, first_slow)  # neighbours, confirmed
    assert len(record.steps) <= 5  # log2(8) + the ends + the confirmation
    assert record.conclusion.startswith("first version whose gate flags the regression")


def test_a_range_without_a_slowdown_says_so_after_one_gate():
    record = bisect("keras", _candidates(), lambda c: "", _gate_with_slowdown_from(None))
    assert record.first_bad is None
    assert len(record.steps) == 1
    assert record.conclusion.startswith("no regression between 3.8.0 and 3.15.0")


def test_a_version_that_cannot_be_built_is_skipped_as_git_bisect_skip_does():
    broken = {"3.11.0": "No matching distribution found for keras==3.11.0"}
    record = bisect(
        "keras",
        _candidates(),
        lambda c: broken.get(c.label, ""),
        _gate_with_slowdown_from("3.13.0"),
    )
    assert record.first_bad == "3.13.0"
    assert record.skipped == broken
    assert all("3.11.0" not in (s.a, s.b) for s in record.steps)


def test_when_every_version_between_is_skipped_the_range_is_named():
    def builds(candidate: Candidate) -> str:
        return "" if candidate.label in ("3.8.0", "3.15.0") else "broken"

    record = bisect("keras", _candidates(), builds, _gate_with_slowdown_from("3.12.0"))
    assert record.first_bad == "3.15.0"
    assert "after 3.8.0 and at or before 3.15.0" in record.conclusion
    assert len(record.skipped) == 6


def test_the_constraints_pin_everything_but_the_bisected_package():
    text = "# comment\nkeras==3.15.1\njax==0.10.2\nTensorflow_CPU==2.21.0\n"
    assert pinned_constraints("keras", text) == "# comment\njax==0.10.2\nTensorflow_CPU==2.21.0\n"
    assert "Tensorflow_CPU" not in pinned_constraints("tensorflow-cpu", text)
    assert extras_for(["jax"]) == "jax"
    assert extras_for(["torch", "jax", "tensorflow"]) == "all"


def test_bad_input_is_one_line(capsys):
    argv = ["bisect", "--package", "keras", "--good", "3.15.1", "--bad", "3.15.0", "-b", "jax"]
    assert cli.main(argv) == 2
    assert cli.main([*argv[:4], "x.y", "--bad", "3.15.1", "-b", "jax"]) == 2
    assert cli.main([*argv[:6], "3.15.1", "-b", "mxnet"]) == 2
    assert cli.main([*argv[:6], "3.15.1", "-b", "jax", "--gate-args", "--repeats '3"]) == 2
    err = capsys.readouterr().err
    assert err.count("kbench: error:") == 4
    assert "Traceback" not in err


@pytest.mark.e2e
def test_kbench_bisect_over_a_real_range_of_the_package_index(tmp_path):
    """keras 3.15.0 -> 3.15.1 from the index: two environments built, the gate run between
    the ends, and the file says what it found."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = ["bisect", "--package", "keras", "--good", "3.15.0", "--bad", "3.15.1"]
    argv += ["-p", "dense_mlp", "-b", "jax", "--profile", "smoke", "--dataset", "synthetic"]
    argv += ["--gate-args", "--repeats 3 --looks 1", "--cache", str(cache), "--out", str(out)]
    code = cli.main(argv)
    record = json.loads((out / "bisect.json").read_text())
    assert record["candidates"] == ["3.15.0", "3.15.1"]
    assert not record["skipped"], record["skipped"]
    assert record["steps"][0]["a"] == "3.15.0"
    assert record["steps"][0]["regressed"] in (True, False)
    assert Path(record["steps"][0]["file"]).is_file()
    if record["steps"][0]["regressed"]:  # a false alarm of the gate (at most 1%)
        assert code == 1
        assert record["first_bad"] == "3.15.1"
    else:
        assert code == 0
        assert record["conclusion"].startswith("no regression between 3.15.0 and 3.15.1")
    python = next(cache.glob("keras-3.15.0-*")) / "bin" / "python"
    assert python.exists() or sys.platform == "win32"


def test_a_commit_range_lists_the_first_parent_line_and_checks_each_commit_out(tmp_path):
    repo = tmp_path / "pkg"
    repo.mkdir()

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    git("init", "-q")
    for index in range(4):
        (repo / "version.txt").write_text(str(index))
        git("add", ".")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"c{index}")
    commits = git("log", "--format=%H", "--reverse").split()
    found = commit_range(repo, commits[1], "HEAD")
    assert [c.commit for c in found] == commits[1:]
    assert [c.label for c in found] == [sha[:10] for sha in commits[1:]]
    checked = checkout(repo, found[1], tmp_path / "sources")
    assert (Path(checked.requirement) / "version.txt").read_text() == "2"
    with pytest.raises(HarnessError, match="does not descend"):
        commit_range(repo, "HEAD", commits[1])
