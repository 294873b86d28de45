"""Conformance of every built-in plugin, and the course's parameter counts on every backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness import devices, registry
from harness.devices import BACKENDS

COURSE_PARAMS = {
    "dense_mlp": (472_042, 472_042, 0),
    "dense_dropout": (472_042, 472_042, 0),
    "cnn": (84_202, 84_202, 0),
    "cnn_bn": (364_842, 363_050, 1_792),
}

COUNT_PARAMS = """
import json, math, keras
from harness.registry import discover
out = {}
for name, reg in discover().items():
    model = reg.plugin.build(reg.plugin.input_shape, 10)
    out[name] = [
        model.count_params(),
        sum(math.prod(v.shape) for v in model.trainable_weights),
        sum(math.prod(v.shape) for v in model.non_trainable_weights),
    ]
print(json.dumps({"backend": keras.backend.backend(), "params": out}))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_course_parameter_counts_on_every_backend(backend):
    env = {**os.environ, **devices.worker_env(backend, "cpu", None)}
    out = subprocess.run(
        [sys.executable, "-c", COUNT_PARAMS], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    counts = {name: tuple(v) for name, v in report["params"].items()}
    assert counts == COURSE_PARAMS


@pytest.mark.parametrize("registered", registry.discover().values(), ids=lambda r: r.plugin.name)
def test_builtin_plugin_conformance(registered):
    plugin = registered.plugin
    assert plugin.family
    assert plugin.description
    assert plugin.input_shape in ((784,), (28, 28, 1))
    assert plugin.training.validation_split == pytest.approx(0.2)
    assert plugin.training.batch_size == 32
    assert plugin.training.epochs == 10


def test_builtins_are_the_course_models_in_course_order():
    assert list(registry.discover()) == list(COURSE_PARAMS)
