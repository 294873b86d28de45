"""One backend at a time: what `nox -s "compat(backend='...')"` runs in a single-backend install."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.backends.parent import BACKENDS, backend_installed

pytestmark = pytest.mark.backend


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(b, id=b, marks=pytest.mark.skipif(not backend_installed(b), reason=f"no {b}"))
        for b in BACKENDS
    ],
)
def test_cnn_trains_on_backend(backend, tmp_path):
    out = tmp_path / "run.json"
    command = [sys.executable, "-m", "harness", "run", "-p", "cnn", "-b", backend]
    command += ["--profile", "smoke", "--dataset", "synthetic", "--device", "cpu"]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (cell,) = json.loads(out.read_text())["cells"]
    assert cell["versions"]["keras_backend"] == backend
    assert cell["params"] == {"total": 84_202, "trainable": 84_202, "non_trainable": 0}
