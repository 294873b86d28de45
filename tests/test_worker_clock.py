"""The worker's fit clock, with a real backend in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import json, time
import keras
import numpy as np
from harness import registry
from harness.run import RunSettings
from harness.worker import Session

plugin = registry.discover()["dense_mlp"].plugin
session = Session(keras, plugin, RunSettings(batch_size=32), "jax")
model = session.build()
x = np.random.default_rng(0).random((64, 784), dtype=np.float32)
y = np.arange(64) % 10
session.timed_fit(model, x, y)
start = time.perf_counter()
timed = session.timed_fit(model, x, y)
wall = time.perf_counter() - start
clock = session._train_end_clock()
with_clock = keras.callbacks.CallbackList([clock], model=model)._async_train
without = keras.callbacks.CallbackList([], model=model)._async_train
print(json.dumps({"timed": timed, "wall": wall, "async": [with_clock, without]}))
"""


def test_fit_clock_stops_inside_the_fit_and_keeps_async_dispatch():
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < measured["timed"] < measured["wall"]
    assert measured["async"] == [True, True]  # the clock keeps Keras's async dispatch
