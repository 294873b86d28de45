"""The native TensorFlow reference: the network over ``tf.Variable``s, a ``tf.function``
training step with ``tf.GradientTape`` and TensorFlow's own fused Adam kernel
(``ResourceApplyAdam``, no Keras); traced, or compiled with XLA (worker side)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.native.reference import ADAM, Batches, Reference
from harness.native.spec import LayerSpec, NativeUnsupported, applied_activation


class TensorFlowReference(Reference):
    framework = "tensorflow"

    def __init__(self, specs: Sequence[LayerSpec], loss: str, variant: str = "function"):
        import tensorflow as tf

        self.tf, self.variant, self.loss_kind = tf, variant, loss
        self.specs = list(specs)
        self.activations = [applied_activation(self.specs, i) for i in range(len(self.specs))]
        self.weights = [tuple(tf.Variable(w) for w in s.weights) for s in self.specs]
        flat = [v for layer in self.weights for v in layer]
        self.slots = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in flat]
        self.count = tf.Variable(0.0)
        lr, (beta1, beta2), eps = ADAM.learning_rate, ADAM.betas, ADAM.epsilon

        def step(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                out = self._apply(x)
                if loss == "sparse_ce":
                    value = tf.reduce_mean(
                        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out)
                    )
                else:
                    value = tf.reduce_mean(tf.square(out - y))
            grads = tape.gradient(value, flat)
            self.count.assign_add(1.0)
            b1, b2 = tf.pow(beta1, self.count), tf.pow(beta2, self.count)
            for var, (m, v), grad in zip(flat, self.slots, grads, strict=True):
                tf.raw_ops.ResourceApplyAdam(
                    var=var.handle, m=m.handle, v=v.handle, beta1_power=b1, beta2_power=b2,
                    lr=lr, beta1=beta1, beta2=beta2, epsilon=eps, grad=grad,
                )  # fmt: skip
            return value

        self.step = tf.function(step, jit_compile=variant == "xla")
        self.forward = tf.function(self._apply)

    def _apply(self, x: Any) -> Any:
        tf = self.tf
        for index, (spec, weights) in enumerate(zip(self.specs, self.weights, strict=True)):
            if spec.kind == "dense":
                x = tf.matmul(x, weights[0]) + weights[1]
            elif spec.kind == "conv1d":
                x = tf.nn.conv1d(x, weights[0], spec.strides, spec.padding.upper()) + weights[1]
            elif spec.kind == "conv2d":
                x = tf.nn.conv2d(x, weights[0], spec.strides, spec.padding.upper()) + weights[1]
            elif spec.kind in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
                pool = tf.nn.max_pool if spec.kind.startswith("max") else tf.nn.avg_pool
                x = pool(x, spec.size, spec.strides, "VALID")
            elif spec.kind in ("gap1d", "gap2d"):
                x = tf.reduce_mean(x, axis=list(range(1, len(x.shape) - 1)))
            elif spec.kind == "flatten":
                x = tf.reshape(x, (tf.shape(x)[0], -1))
            else:
                raise NativeUnsupported(f"{spec.kind} in tensorflow")
            if self.activations[index]:
                x = {"relu": tf.nn.relu, "sigmoid": tf.sigmoid, "tanh": tf.tanh}[
                    self.activations[index]
                ](x)
        return x

    def tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        target = y.astype(np.int32) if self.loss_kind == "sparse_ce" else y.astype(np.float32)
        return self.tf.constant(x), self.tf.constant(target)

    def run(self, batches: Batches) -> Any:
        value = None
        for x, y in batches:
            value = self.step(x, y)
        return value

    def sync(self) -> None:
        self.count.numpy()  # the last step's update of the counter has run

    def outputs(self, x: np.ndarray) -> np.ndarray:
        out = self.forward(self.tf.constant(x))
        if self.loss_kind == "sparse_ce":
            out = self.tf.nn.softmax(out, axis=-1)
        return out.numpy()

    def loss_value(self, loss: Any) -> float:
        return float(loss)
