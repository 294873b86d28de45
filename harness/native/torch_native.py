"""The native PyTorch reference: an ``nn.Sequential`` of the same layers, ``torch.optim.Adam``,
a plain training loop; eager, or with ``torch.compile`` (worker side)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.native.reference import ADAM, Batches, Reference
from harness.native.spec import LayerSpec, NativeUnsupported, applied_activation


class TorchReference(Reference):
    framework = "torch"

    def __init__(self, specs: Sequence[LayerSpec], loss: str, variant: str = "eager"):
        import torch

        self.torch, self.variant, self.loss_kind = torch, variant, loss
        self.channels_first = any(
            s.kind.startswith(("conv", "maxpool", "avgpool", "gap")) for s in specs
        )
        self.module = torch.nn.Sequential(*_modules(torch, specs))
        self.optimizer = torch.optim.Adam(
            self.module.parameters(), lr=ADAM.learning_rate, betas=ADAM.betas, eps=ADAM.epsilon
        )
        self.criterion = torch.nn.CrossEntropyLoss() if loss == "sparse_ce" else torch.nn.MSELoss()
        step = self._step
        self.compiled_step = torch.compile(step) if variant == "compiled" else step

    def _step(self, x: Any, y: Any) -> Any:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.criterion(self.module(x), y)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        if self.channels_first and x.ndim > 2:
            x = np.ascontiguousarray(np.moveaxis(x, -1, 1))  # NHWC -> NCHW, NLC -> NCL
        target = y.astype(np.int64) if self.loss_kind == "sparse_ce" else y.astype(np.float32)
        return self.torch.from_numpy(np.ascontiguousarray(x)), self.torch.from_numpy(target)

    def run(self, batches: Batches) -> Any:
        loss = None
        for x, y in batches:
            loss = self.compiled_step(x, y)
        return loss

    def sync(self) -> None:  # eager on the CPU: every op has finished when it returns
        return None

    def outputs(self, x: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            out = self.module(self.tensors(x, np.zeros(len(x)))[0])
            if self.loss_kind == "sparse_ce":
                out = self.torch.softmax(out, dim=-1)
        return out.numpy()

    def loss_value(self, loss: Any) -> float:
        return float(loss)


def _modules(torch: Any, specs: Sequence[LayerSpec]) -> list[Any]:
    nn, modules, spatial = torch.nn, [], False
    specs = list(specs)
    for index, spec in enumerate(specs):
        if spec.kind == "dense":
            kernel, bias = spec.weights
            layer = nn.Linear(kernel.shape[0], kernel.shape[1])
            _load(torch, layer, kernel.T, bias)
            modules.append(layer)
        elif spec.kind in ("conv1d", "conv2d"):
            kernel, bias = spec.weights
            conv = nn.Conv1d if spec.kind == "conv1d" else nn.Conv2d
            order = (2, 1, 0) if spec.kind == "conv1d" else (3, 2, 0, 1)  # -> (out, in, k...)
            layer = conv(kernel.shape[-2], kernel.shape[-1], spec.size, spec.strides,
                         padding=spec.padding)  # fmt: skip
            _load(torch, layer, kernel.transpose(order), bias)
            modules.append(layer)
            spatial = True
        elif spec.kind in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
            pool = {"maxpool1d": nn.MaxPool1d, "maxpool2d": nn.MaxPool2d,
                    "avgpool1d": nn.AvgPool1d, "avgpool2d": nn.AvgPool2d}[spec.kind]  # fmt: skip
            modules.append(pool(spec.size, spec.strides))
        elif spec.kind in ("gap1d", "gap2d"):
            modules += [
                nn.AdaptiveAvgPool1d(1) if spec.kind == "gap1d" else nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            ]
            spatial = False
        elif spec.kind == "flatten":
            if spatial:  # channels last again first, so the order matches Keras's flatten
                modules.append(_channels_last(torch))
            modules.append(nn.Flatten())
            spatial = False
        else:
            raise NativeUnsupported(f"{spec.kind} in torch")
        activation = applied_activation(specs, index)
        if activation:
            modules.append({"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[activation]())
    return modules


def _load(torch: Any, layer: Any, weight: np.ndarray, bias: np.ndarray) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
        layer.bias.copy_(torch.from_numpy(bias))


def _channels_last(torch: Any) -> Any:
    """A module that moves channels back to the last axis (NCL -> NLC, NCHW -> NHWC)."""

    class ChannelsLast(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.movedim(x, 1, -1)

    return ChannelsLast()
