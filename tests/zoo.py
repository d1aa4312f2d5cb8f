"""The model families a learner brings, small enough for the test budget.

Each ``Family`` builds a fresh model from a seed (so two builds start from the
same weights and the same dropout stream), the data as ``model.fit`` takes it,
and the loss and metrics to compile with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
from sklearn.datasets import load_digits

VOCAB, LENGTH = 20, 8


@dataclass
class Family:
    name: str
    build: Callable[[], keras.Model]
    data: tuple
    loss: object
    metrics: list = field(default_factory=list)
    mixed_precision: bool = False
    embedding: bool = False  # has an Embedding: sparse gradients with repeated rows

    def model(self, seed: int = 0) -> keras.Model:
        keras.utils.set_random_seed(seed)
        if not self.mixed_precision:
            return self.build()
        keras.mixed_precision.set_global_policy("mixed_float16")
        try:
            return self.build()
        finally:
            keras.mixed_precision.set_global_policy("float32")

    def optimizer(self, optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
        return keras.optimizers.LossScaleOptimizer(optimizer) if self.mixed_precision else optimizer


def _tokens(rng: np.random.Generator, n: int) -> np.ndarray:
    # Short sequences from a small vocabulary: tokens repeat within a batch and a sequence.
    return rng.integers(0, VOCAB, size=(n, LENGTH)).astype(np.int32)


def text_classifier() -> keras.Model:
    return keras.Sequential([
        keras.Input((LENGTH,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 8),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])


def sequence_model() -> keras.Model:
    return keras.Sequential([
        keras.Input((LENGTH,), dtype="int32"),
        keras.layers.Embedding(VOCAB, 6),
        keras.layers.LSTM(6),
        keras.layers.Dense(3),
    ])


def conv_classifier() -> keras.Model:
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def dict_input_model() -> keras.Model:
    numbers = keras.Input((5,), name="numbers")
    tokens = keras.Input((LENGTH,), dtype="int32", name="tokens")
    embedded = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(VOCAB, 4)(tokens))
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.Concatenate()([numbers, embedded]))
    return keras.Model({"numbers": numbers, "tokens": tokens}, keras.layers.Dense(1)(hidden))


def regularised_model() -> keras.Model:
    return keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(8, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.05),
                           activity_regularizer=keras.regularizers.L1(0.01)),
        keras.layers.Dense(1, kernel_regularizer=keras.regularizers.L1L2(0.01, 0.02)),
    ])


def batchnorm_dropout_model() -> keras.Model:
    return keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(8),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1),
    ])


def mixed_precision_model() -> keras.Model:
    return keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1, dtype="float32"),
    ])


class FrozenAndUnused(keras.Model):
    """A subclassed model with a frozen layer and a weight that gets no gradient."""

    def __init__(self):
        super().__init__()
        self.frozen = keras.layers.Dense(8, activation="tanh", trainable=False)
        self.head = keras.layers.Dense(1)
        self.unused = self.add_weight(shape=(3,), initializer="ones", name="unused")

    def call(self, x):
        return self.head(self.frozen(x))


def _families() -> list[Family]:
    rng = np.random.default_rng(0)
    n = 48
    tokens = _tokens(rng, n)
    numbers = rng.normal(size=(n, 5)).astype(np.float32)
    target = (numbers @ rng.normal(size=(5, 1))).astype(np.float32)
    digits = load_digits()
    images = (digits.images[:n, :, :, None] / 16.0).astype(np.float32)
    return [
        Family("text", text_classifier, (tokens, (tokens[:, :2].sum(1) > VOCAB - 1).astype(np.float32)),
               "binary_crossentropy", ["accuracy"], embedding=True),
        Family("sequence", sequence_model, (tokens, tokens[:, 0] % 3),
               keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["sparse_categorical_accuracy"],
               embedding=True),
        Family("conv_digits", conv_classifier, (images, digits.target[:n]),
               "sparse_categorical_crossentropy", ["accuracy"]),
        Family("dict_inputs", dict_input_model,
               ({"numbers": numbers, "tokens": tokens}, target, rng.uniform(0.5, 2.0, n).astype(np.float32)),
               "mse", ["mae"], embedding=True),
        Family("regularised", regularised_model, (numbers, target), "mse", ["mae"]),
        Family("batchnorm_dropout", batchnorm_dropout_model, (numbers, target), "mse", ["mae"]),
        Family("mixed_float16", mixed_precision_model, (numbers, target), "mse", ["mae"], mixed_precision=True),
        Family("subclassed_frozen_unused", FrozenAndUnused, (numbers, target), "mse", ["mae"]),
    ]


FAMILIES = {f.name: f for f in _families()}
