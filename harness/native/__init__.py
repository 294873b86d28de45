"""Native references: the same network and training step as a plugin's Keras model, written
in each framework's own idiom, timed beside the Keras cell (``kbench run --native``).

* ``spec``: the Keras ``Sequential`` read as layer specifications with their weights
* ``reference``: what every reference offers (``Reference``) and Keras's Adam defaults
* ``torch_native``: ``nn.Sequential`` + ``torch.optim.Adam``, eager or ``torch.compile``
* ``jax_native``: a pure function + ``optax.adam``, the step under ``jax.jit``
* ``tf_native``: ``tf.Variable``s + ``GradientTape`` + ``ResourceApplyAdam`` in a
  ``tf.function``, with or without XLA
* ``same_model``: the check that a reference is the Keras model (same outputs from the same
  weights, same losses over the first training steps)

Worker side: imports a framework only inside ``make_reference``.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.native.reference import Reference
from harness.native.spec import LayerSpec, NativeUnsupported

# per backend: the native variants a --native run times, the first the framework's default
VARIANTS: dict[str, tuple[str, ...]] = {
    "jax": ("jit",),
    "tensorflow": ("function", "xla"),
    "torch": ("eager", "compiled"),
}


def make_reference(
    framework: str, variant: str, specs: Sequence[LayerSpec], loss: str
) -> Reference:
    """The native reference of ``framework`` in ``variant`` (see :data:`VARIANTS`)."""
    if variant not in VARIANTS.get(framework, ()):
        raise NativeUnsupported(f"no {variant!r} native reference for {framework}")
    if framework == "torch":
        from harness.native.torch_native import TorchReference

        return TorchReference(specs, loss, variant)
    if framework == "jax":
        from harness.native.jax_native import JaxReference

        return JaxReference(specs, loss, variant)
    from harness.native.tf_native import TensorFlowReference

    return TensorFlowReference(specs, loss, variant)


__all__ = ["VARIANTS", "LayerSpec", "NativeUnsupported", "Reference", "make_reference"]
