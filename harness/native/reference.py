"""What every native reference offers the worker, and the settings they share with the
Keras model they stand beside (Keras's Adam defaults, the loss on logits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Batches = Sequence[tuple[Any, Any]]  # (inputs, targets) per step, in the framework's tensors


@dataclass(frozen=True)
class AdamSettings:
    """Keras's ``Adam()`` defaults, given to each framework's own Adam."""

    learning_rate: float = 0.001
    betas: tuple[float, float] = (0.9, 0.999)
    epsilon: float = 1e-7


ADAM = AdamSettings()


class Reference:
    """A native training step of the same network as a Keras model, from its weights.

    ``tensors`` turns numpy arrays into the framework's inputs (its layout: channels first
    for torch's convolutions), ``run`` trains on the batches in order (it may return before
    the device has finished), ``sync`` waits for it, ``outputs`` gives the predictions
    (probabilities for a classifier) and ``loss_value`` a step's loss as a float.
    """

    framework = ""
    variant = ""

    def tensors(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        raise NotImplementedError

    def run(self, batches: Batches) -> Any:
        raise NotImplementedError

    def sync(self) -> None:
        raise NotImplementedError

    def outputs(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def loss_value(self, loss: Any) -> float:
        raise NotImplementedError

    def batches(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> list[tuple[Any, Any]]:
        """The framework's tensors of every whole batch of ``x`` and ``y``, made once."""
        count = len(x) // batch_size
        return [
            self.tensors(
                x[i * batch_size : (i + 1) * batch_size], y[i * batch_size : (i + 1) * batch_size]
            )
            for i in range(count)
        ]

    def step_losses(self, batches: Batches) -> list[float]:
        """Train on each batch in turn; each step's loss (before its update)."""
        return [self.loss_value(self.run([batch])) for batch in batches]

    @property
    def label(self) -> str:
        return f"{self.framework} {self.variant}"
