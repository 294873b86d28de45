"""The worker's fit and predict clock, with a real backend in a fresh process."""

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
start = time.perf_counter()
predicted = session.timed_predict_and_teardown(model, x)
predict_wall = time.perf_counter() - start
clock = session._end_clock()
with_clock, without = (keras.callbacks.CallbackList(c, model=model) for c in ([clock], []))
modes = [(c._async_train, c._async_predict) for c in (with_clock, without)]
print(json.dumps({"timed": timed, "wall": wall, "async": modes, "predicted": predicted,
                  "predict_wall": predict_wall}))
"""


def test_fit_and_predict_clocks_stop_inside_the_call_and_keep_async_dispatch():
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < measured["timed"] < measured["wall"]
    assert measured["async"] == [[True, True], [True, True]]  # Keras's async dispatch kept
    predicted, teardown = measured["predicted"]
    assert 0 < predicted
    assert 0 <= teardown
    assert predicted + teardown <= measured["predict_wall"]
