"""The zoo's custom Keras layers, registered for ``.keras`` files.

Imported by the zoo's ``build`` functions only, in a worker, after Keras is imported (the
parent's discovery skips ``_`` modules, so this module may import Keras at the top).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

PACKAGE = "kbench_zoo"


@keras.saving.register_keras_serializable(package=PACKAGE)
class TokenAndPositionEmbedding(layers.Layer):
    """A token's embedding plus its position's (both learned), as keras.io's Transformer
    examples write it: ``(batch, length)`` ids to ``(batch, length, embed_dim)``."""

    def __init__(self, max_length: int, vocab_size: int, embed_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length, self.vocab_size, self.embed_dim = max_length, vocab_size, embed_dim
        self.token_embedding = layers.Embedding(vocab_size, embed_dim, name="token")
        self.position_embedding = layers.Embedding(max_length, embed_dim, name="position")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.token_embedding.build(input_shape)
        self.position_embedding.build((input_shape[-1],))

    def call(self, inputs: Any) -> Any:
        positions = ops.arange(0, ops.shape(inputs)[-1], dtype="int32")
        return self.token_embedding(inputs) + self.position_embedding(positions)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape, self.embed_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_length": self.max_length,
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class TransformerBlock(layers.Layer):
    """Multi-head self-attention and a two-layer feed-forward network, each added back to its
    input and layer-normalized (post-norm, as keras.io's text classifier and miniature GPT);
    ``causal=True`` lets each position attend only to itself and the positions before it."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        ff_dim: int,
        rate: float = 0.1,
        causal: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.embed_dim, self.num_heads, self.ff_dim = embed_dim, num_heads, ff_dim
        self.rate, self.causal = rate, causal
        self.attention = layers.MultiHeadAttention(num_heads, embed_dim // num_heads)
        self.ff_hidden = layers.Dense(ff_dim, activation="relu")
        self.ff_out = layers.Dense(embed_dim)
        self.norm1 = layers.LayerNormalization(epsilon=1e-6)
        self.norm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.attention.build(input_shape, input_shape)
        self.ff_hidden.build(input_shape)
        self.ff_out.build((*input_shape[:-1], self.ff_dim))
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        attended = self.attention(inputs, inputs, use_causal_mask=self.causal)
        x = self.norm1(inputs + self.dropout1(attended, training=training))
        fed = self.ff_out(self.ff_hidden(x))
        return self.norm2(x + self.dropout2(fed, training=training))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "rate": self.rate,
            "causal": self.causal,
        }
