"""The native JAX reference: the network as a pure function of a parameter tree, a
``jax.jit``-compiled training step with ``optax.adam`` (worker side)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.native.reference import ADAM, Batches, Reference
from harness.native.spec import LayerSpec, NativeUnsupported, applied_activation


class JaxReference(Reference):
    framework = "jax"

    def __init__(self, specs: Sequence[LayerSpec], loss: str, variant: str = "jit"):
        import jax
        import optax

        self.jax, self.variant, self.loss_kind = jax, variant, loss
        self.specs = list(specs)
        self.activations = [applied_activation(self.specs, i) for i in range(len(self.specs))]
        self.params = [tuple(jax.numpy.asarray(w) for w in s.weights) for s in self.specs]
        self.optimizer = optax.adam(ADAM.learning_rate, *ADAM.betas, eps=ADAM.epsilon)
        self.state = self.optimizer.init(self.params)
        apply, optimizer = self._apply, self.optimizer

        def loss_of(params: Any, x: Any, y: Any) -> Any:
            out = apply(params, x)
            if loss == "sparse_ce":
                return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
            return jax.numpy.mean((out - y) ** 2)

        def step(params: Any, state: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
            value, grads = jax.value_and_grad(loss_of)(params, x, y)
            updates, state = optimizer.update(grads, state, params)
            return optax.apply_updates(params, updates), state, value

        self.step = jax.jit(step, donate_argnums=(0, 1))
        self.forward = jax.jit(apply)

    def _apply(self, params: Any, x: Any) -> Any:
        jnp, lax = self.jax.numpy, self.jax.lax
        for index, (spec, weights) in enumerate(zip(self.specs, params, strict=True)):
            if spec.kind == "dense":
                x = x @ weights[0] + weights[1]
            elif spec.kind in ("conv1d", "conv2d"):
                dims = ("NWC", "WIO", "NWC") if spec.kind == "conv1d" else ("NHWC", "HWIO", "NHWC")
                rank = 1 if spec.kind == "conv1d" else 2
                x = (
                    lax.conv_general_dilated(
                        x,
                        weights[0],
                        (spec.strides,) * rank,
                        spec.padding.upper(),
                        dimension_numbers=dims,
                    )
                    + weights[1]
                )
            elif spec.kind in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
                rank = 1 if spec.kind.endswith("1d") else 2
                window = (1, *(spec.size,) * rank, 1)
                strides = (1, *(spec.strides,) * rank, 1)
                if spec.kind.startswith("max"):
                    x = lax.reduce_window(x, -jnp.inf, lax.max, window, strides, "VALID")
                else:
                    x = (
                        lax.reduce_window(x, 0.0, lax.add, window, strides, "VALID")
                        / spec.size**rank
                    )
            elif spec.kind in ("gap1d", "gap2d"):
                x = x.mean(axis=tuple(range(1, x.ndim - 1)))
            elif spec.kind == "flatten":
                x = x.reshape(x.shape[0], -1)
            else:
                raise NativeUnsupported(f"{spec.kind} in jax")
            if self.activations[index]:
                x = {"relu": self.jax.nn.relu, "sigmoid": self.jax.nn.sigmoid, "tanh": jnp.tanh}[
                    self.activations[index]
                ](x)
        return x

    def tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        target = y.astype(np.int32) if self.loss_kind == "sparse_ce" else y.astype(np.float32)
        return self.jax.device_put(x), self.jax.device_put(target)

    def run(self, batches: Batches) -> Any:
        value = None
        for x, y in batches:
            self.params, self.state, value = self.step(self.params, self.state, x, y)
        return value

    def sync(self) -> None:
        self.jax.block_until_ready(self.params)

    def outputs(self, x: np.ndarray) -> np.ndarray:
        out = self.forward(self.params, self.jax.device_put(x))
        if self.loss_kind == "sparse_ce":
            out = self.jax.nn.softmax(out, axis=-1)
        return np.asarray(out)

    def loss_value(self, loss: Any) -> float:
        return float(loss)
