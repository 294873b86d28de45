"""What ``kbench bisect`` tries: the released versions of a package between two versions
(from the package index pip uses), or the commits between two commits of a local checkout."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from harness.errors import HarnessError, UsageError


@dataclass(frozen=True)
class Candidate:
    """One version to build: its label and what pip installs for it (``keras==3.14.0``, or
    the folder of a commit's checkout, filled by :func:`checkout`)."""

    label: str
    requirement: str
    commit: str | None = None  # a commit of ``repo`` (commit ranges only)


def registry_versions(package: str, good: str, bad: str) -> list[Candidate]:
    """Every final release of ``package`` from ``good`` to ``bad`` inclusive, oldest first,
    as the package index lists them (``pip index versions``)."""
    low, high = _version(good, "--good"), _version(bad, "--bad")
    if not low < high:
        raise UsageError(f"Expected --good older than --bad. Received: good={good}, bad={bad}")
    listed = _index_versions(package)
    chosen = sorted(v for v in listed if low <= v <= high and not v.is_prerelease)
    for end, name in ((low, "--good"), (high, "--bad")):
        if end not in chosen:
            raise UsageError(
                f"{package} {end} is not on the package index ({name}); versions there "
                f"between the two: {', '.join(map(str, chosen)) or 'none'}"
            )
    return [Candidate(str(v), f"{package}=={v}") for v in chosen]


def commit_range(repo: Path, good: str, bad: str) -> list[Candidate]:
    """``good``, then every commit of ``repo`` after it up to ``bad`` along the first-parent
    line, oldest first."""
    if not (Path(repo) / ".git").exists():
        raise UsageError(f"--repo must be a git checkout. Received: repo='{repo}'")
    good_sha, bad_sha = _git(repo, "rev-parse", good).strip(), _git(repo, "rev-parse", bad).strip()
    between = _git(repo, "rev-list", "--reverse", "--first-parent", f"{good_sha}..{bad_sha}")
    commits = [good_sha, *between.split()]
    if commits[-1] != bad_sha:
        raise UsageError(f"--bad {bad} does not descend from --good {good} in {repo}")
    return [Candidate(sha[:10], "", sha) for sha in commits]


def checkout(repo: Path, candidate: Candidate, folder: Path) -> Candidate:
    """The candidate's commit checked out (a detached worktree) under ``folder``: the
    requirement pip installs becomes that folder."""
    target = folder / f"src-{candidate.label}"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _git(repo, "worktree", "add", "--detach", "--force", str(target), candidate.commit or "")
    return Candidate(candidate.label, str(target), candidate.commit)


def _index_versions(package: str) -> list[Version]:
    command = [sys.executable, "-m", "pip", "index", "versions", package]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as error:
        raise HarnessError(f"Could not ask the package index for {package}: {error}") from None
    found = re.search(r"Available versions:\s*(.+)", done.stdout)
    if done.returncode != 0 or not found:
        last = (done.stderr.strip().splitlines() or ["no versions listed"])[-1]
        raise HarnessError(f"Could not list the versions of {package} on the index: {last}")
    versions = []
    for text in found.group(1).split(","):
        try:
            versions.append(Version(text.strip()))
        except InvalidVersion:
            continue
    return versions


def _version(text: str, option: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise UsageError(f"{option} is not a version. Received: {text!r}") from None


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise HarnessError(f"git failed in {repo}: {error}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise UsageError(f"git {' '.join(args)} failed in {repo}: {last}")
    return done.stdout
