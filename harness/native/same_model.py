"""Is a native reference the Keras model? From the same weights: the same outputs on a
batch, and the same losses over the first training steps on the same batches."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from harness.native.reference import Reference

OUTPUT_ATOL = 1e-4  # largest |Keras - native| output (probabilities, or a regression's values)
OUTPUT_RTOL = 1e-3
# largest relative difference of a training step's loss: Keras's Adam adds epsilon to
# sqrt(v) before the bias correction, torch's and optax's after it, so in the first steps
# a parameter with tiny gradients moves differently (0.4% on dense_mlp's loss by step 5 on
# torch; the outputs from the same weights agree to 1e-7)
LOSS_RTOL = 1e-2
STEPS = 5  # training steps compared


@dataclass(frozen=True)
class SameModel:
    """The check's figures and verdict."""

    max_output_diff: float
    max_loss_rel_diff: float
    keras_losses: list[float]
    native_losses: list[float]
    passed: bool
    first_step_s: float  # the native reference's first training step (its compilation)
    output_atol: float = OUTPUT_ATOL
    output_rtol: float = OUTPUT_RTOL
    loss_rtol: float = LOSS_RTOL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def why(self) -> str:
        return (
            f"largest output difference {self.max_output_diff:.2g} (tolerance {OUTPUT_ATOL:g} + "
            f"{OUTPUT_RTOL:g} x |output|), largest loss difference {self.max_loss_rel_diff:.2g} "
            f"(tolerance {LOSS_RTOL:g}) over {len(self.keras_losses)} steps"
        )


def check(
    model: Any, reference: Reference, x: np.ndarray, y: np.ndarray, batch_size: int
) -> SameModel:
    """Outputs on the first batch before training, then ``STEPS`` training steps of each on
    the same batches (``train_on_batch`` for Keras); the losses each step reports."""
    probe = x[:batch_size]
    keras_out = np.asarray(model.predict_on_batch(probe))
    native_out = reference.outputs(probe).reshape(keras_out.shape)
    close = np.abs(keras_out - native_out) <= OUTPUT_ATOL + OUTPUT_RTOL * np.abs(keras_out)
    steps = min(STEPS, len(x) // batch_size)
    keras_losses = []
    for i in range(steps):
        part = slice(i * batch_size, (i + 1) * batch_size)
        logs = model.train_on_batch(x[part], y[part], return_dict=True)
        keras_losses.append(float(logs["loss"]))
    batches = reference.batches(x[: steps * batch_size], y[: steps * batch_size], batch_size)
    started = time.perf_counter()
    native_losses = reference.step_losses(batches[:1])
    first_step_s = time.perf_counter() - started
    native_losses += reference.step_losses(batches[1:])
    keras_arr, native_arr = np.asarray(keras_losses), np.asarray(native_losses)
    loss_diff = float(np.max(np.abs(keras_arr - native_arr) / np.maximum(np.abs(keras_arr), 1e-12)))
    return SameModel(
        max_output_diff=float(np.max(np.abs(keras_out - native_out))),
        max_loss_rel_diff=loss_diff,
        keras_losses=keras_losses,
        native_losses=native_losses,
        passed=bool(close.all()) and loss_diff <= LOSS_RTOL,
        first_step_s=first_step_s,
    )
