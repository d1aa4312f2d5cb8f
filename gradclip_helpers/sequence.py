"""Notebook 08's sequence model: a synthetic character language, a tiny Transformer, and its loss.

The **counting language** has one rule: a sentence starts at a random letter of
a small alphabet and counts through it with a fixed step, wrapping around
(``a c e g i k m b d ...`` counts by 2 in ``a`` to ``m``). Once a model has
seen two letters it can predict every later one, so the language is fully
learnable (loss 0) and needs no download. The task is next-letter prediction;
the first target is masked (the step is not known yet).

The model is the smallest Transformer that can learn it: letter and position
embeddings, one causal self-attention block (one head) and one MLP block, each with a
residual connection, and no normalisation layers (Wortsman et al. 2023 study
such small proxies for large-model instabilities). Nothing here trains.
"""

from __future__ import annotations

import keras
import numpy as np

LETTERS = "abcdefghijklm"
IGNORE = -1  # target value of masked positions (the loss ignores it)


def counting_language(n: int, length: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sentences of the counting language, as model inputs and next-letter targets.

    Math: letter ``t`` of a sentence is ``(s + k t) mod L`` for a start
    ``s ~ U{0..L-1}`` and a step ``k ~ U{1..L-1}``, ``L = len(LETTERS)``.

    Args:
      n: number of sentences (at least 1).
      length: letters the model reads per sentence (it predicts the next ``length``).
      seed: seed of ``numpy.random.default_rng``.

    Returns:
      ``(x, y)``: ``x`` float32 of shape ``(n, length, L + length)``, each row
      the one-hot letter followed by the one-hot position (a ``Dense`` layer on
      it is a letter embedding plus a position embedding); ``y`` int32 of shape
      ``(n, length)``, the next letter, ``IGNORE`` at position 0.

    >>> x, y = counting_language(2, length=5, seed=0)
    >>> x.shape, y.shape
    ((2, 5, 18), (2, 5))
    >>> decode(x[0]), y[0].tolist()  # counts by 7: l, l+7 = f, f+7 = m, ...
    ('lfmga', [-1, 12, 6, 0, 7])
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 2:
        raise ValueError(f"length must be an integer >= 2, got {length!r}")
    size = len(LETTERS)
    rng = np.random.default_rng(seed)
    start = rng.integers(0, size, (n, 1))
    step = rng.integers(1, size, (n, 1))
    letters = (start + step * np.arange(length + 1)) % size
    one_hot = np.eye(size, dtype=np.float32)[letters[:, :-1]]
    positions = np.broadcast_to(np.eye(length, dtype=np.float32), (n, length, length))
    y = letters[:, 1:].astype(np.int32)
    y[:, 0] = IGNORE
    return np.concatenate([one_hot, positions], axis=-1), y


def decode(x: np.ndarray) -> str:
    """The letters of one input sentence of ``counting_language``."""
    return "".join(LETTERS[i] for i in np.argmax(np.asarray(x)[:, : len(LETTERS)], axis=-1))


def sequence_loss() -> keras.losses.Loss:
    """Cross-entropy of the next letter from logits, averaged over the unmasked positions.

    >>> import numpy as np
    >>> logits = np.zeros((1, 2, len(LETTERS)), np.float32)  # uniform guesses
    >>> round(float(sequence_loss()(np.array([[IGNORE, 3]]), logits)), 4), round(float(np.log(13)), 4)
    (2.5649, 2.5649)
    """
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE)


class CausalSelfAttention(keras.layers.Layer):
    """One-head causal self-attention: position ``t`` attends to positions ``0 .. t``.

    Math: ``softmax(q k^T / sqrt(width) + mask) v`` with ``[q, k, v] = h W_qkv``
    and the mask ``-inf`` above the diagonal; then an output projection.
    Written with ``keras.ops`` (fewer operations to compile than
    ``keras.layers.MultiHeadAttention``, which keeps the notebook fast).

    >>> layer = CausalSelfAttention(4)
    >>> tuple(layer(np.ones((1, 3, 4), np.float32)).shape)
    (1, 3, 4)
    """

    def __init__(self, width: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.width, self.seed = width, seed
        init = lambda i: keras.initializers.GlorotUniform(seed=None if seed is None else seed + i)  # noqa: E731
        self.qkv = keras.layers.Dense(3 * width, use_bias=False, kernel_initializer=init(0), name="qkv")
        self.out = keras.layers.Dense(width, kernel_initializer=init(1), name="out")

    def call(self, h):
        q, k, v = keras.ops.split(self.qkv(h), 3, axis=-1)
        scores = keras.ops.matmul(q, keras.ops.swapaxes(k, -1, -2)) / float(np.sqrt(self.width))
        length = keras.ops.shape(h)[1]
        causal = keras.ops.tril(keras.ops.ones((length, length), dtype="bool"))
        scores = keras.ops.where(causal, scores, -1e9)
        return self.out(keras.ops.matmul(keras.ops.softmax(scores, axis=-1), v))

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width, "seed": self.seed}


def tiny_transformer(length: int = 12, width: int = 32, seed: int | None = None) -> keras.Model:
    """A one-block causal Transformer for ``counting_language``: logits of the next letter.

    Embedding (``Dense`` on the one-hot letter and position), then
    ``h + CausalSelfAttention(h)`` and ``h + Dense(Dense(2 width, relu)(h))``,
    then ``Dense(len(LETTERS))``. No normalisation layers.

    Args:
      length: letters per sentence, as in ``counting_language``.
      width: model width (embedding size).
      seed: fixes the initial weights.

    >>> model = tiny_transformer(length=5, width=8, seed=0)
    >>> model.output_shape, model.count_params()
    ((None, 5, 13), 813)
    """
    for name, value in (("length", length), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    init = lambda i: keras.initializers.GlorotUniform(seed=None if seed is None else seed + i)  # noqa: E731
    inputs = keras.Input((length, len(LETTERS) + length))
    h = keras.layers.Dense(width, kernel_initializer=init(0), name="embedding")(inputs)
    h = h + CausalSelfAttention(width, seed=None if seed is None else seed + 1, name="attention")(h)
    hidden = keras.layers.Dense(2 * width, activation="relu", kernel_initializer=init(3), name="mlp_in")(h)
    h = h + keras.layers.Dense(width, kernel_initializer=init(4), name="mlp_out")(hidden)
    logits = keras.layers.Dense(len(LETTERS), kernel_initializer=init(5), name="logits")(h)
    return keras.Model(inputs, logits, name="tiny_transformer")
