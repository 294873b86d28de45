"""A native reference's cell (worker side): the plugin's network written in the backend's
own framework, checked to be the Keras model, then timed as a Keras cell is timed.

The Keras model is built (seeded as the Keras cell builds it) only for its layers and
initial weights and for the same-model check (``harness.native.same_model``). Timing: the
same window pairs of N and 2N steps over the same cycled data, batch size and thread
settings, each window a loop of the reference's training step over pre-made batches with
a barrier at its end; N from a rough step time as the Keras cell calibrates its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from harness.native import NativeUnsupported, make_reference
from harness.native.same_model import check
from harness.native.spec import layer_specs
from harness.plugin import ModelPlugin
from harness.records.steptime import StepTimeStats
from harness.worker.model import count_params, cycle_samples
from harness.worker.session import Session, _rough_step_s


class NativeDiffers(Exception):
    """The native reference does not give the Keras model's outputs and losses."""


def loss_kind(plugin: ModelPlugin) -> str:
    """``sparse_ce`` (a classifier with sparse labels) or ``mse`` (a regression)."""
    loss = plugin.training.loss
    if loss == "sparse_categorical_crossentropy":
        return "sparse_ce"
    if loss in ("mse", "mean_squared_error"):
        return "mse"
    raise NativeUnsupported(f"loss {loss!r}")


def _reference(session: Session, model: Any, variant: str, loss: str) -> Any:
    """The plugin's own reference for the backend and variant, else the harness's."""
    own = session.plugin.native
    if isinstance(own, Mapping):
        make = own.get(session.backend, {}).get(variant)
        if make is None:
            raise NativeUnsupported(f"the plugin gives no {variant!r} for {session.backend}")
        reference = make(model, loss)
        reference.framework = reference.framework or session.backend
        reference.variant = variant
        return reference
    return make_reference(session.backend, variant, layer_specs(model), loss)


def time_native(
    session: Session, variant: str, x: Any, y: Any, num_classes: int, windows: int | None
) -> dict[str, Any]:
    """Build, check and time the native reference of the session's backend in ``variant``."""
    if isinstance(x, dict):
        raise NativeUnsupported("a model with several inputs")
    started = time.perf_counter()
    model = session.build(num_classes)
    params = count_params(model)
    kind = loss_kind(session.plugin)
    reference = _reference(session, model, variant, kind)
    build_s = time.perf_counter() - started
    batch = session.batch_size
    same = check(model, reference, x, y, batch)
    if not same.passed:
        raise NativeDiffers(f"{reference.label} is not the Keras model: {same.why()}")

    def timed(batches: Any) -> tuple[float, float]:
        reference.sync()
        start = time.perf_counter()
        reference.run(batches)
        reference.sync()
        return time.perf_counter() - start, 0.0  # no teardown: the loop ends at the barrier

    def batches(steps: int) -> Any:
        return reference.batches(*cycle_samples(x, y, steps * batch), batch)

    steps = session.settings.timing.window_steps(_rough_step_s(lambda k: timed(batches(k))[0]))
    short, long = batches(steps), batches(2 * steps)
    step: StepTimeStats = session._window_pairs(timed, short, long, steps, windows)
    return {
        "step": step,
        "params": params,
        "build": build_s,
        "first_step": same.first_step_s,
        "native": {
            "variant": variant,
            "framework": reference.framework,
            "same_model": same.to_dict(),
        },
    }
