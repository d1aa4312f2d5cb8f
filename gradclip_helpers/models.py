"""Model builders: the seed article's MLP and a deep MLP for explosion experiments."""

from __future__ import annotations

import math

import keras


def seed_mlp(n_inputs: int, seed: int | None = None) -> keras.Sequential:
    """The seed article's regressor: Dense(128, relu), Dense(64, relu), Dense(1).

    Keras default initialisation (Glorot uniform kernels, zero biases);
    with 20 inputs it has 11,009 parameters. ``seed`` fixes the initial weights.

    >>> seed_mlp(20, seed=0).count_params()
    11009
    """
    if not isinstance(n_inputs, int) or n_inputs < 1:
        raise ValueError(f"n_inputs must be a positive integer, got {n_inputs!r}")
    init = lambda i: keras.initializers.GlorotUniform(seed=None if seed is None else seed + i)  # noqa: E731
    return keras.Sequential(
        [
            keras.Input(shape=(n_inputs,)),
            keras.layers.Dense(128, activation="relu", kernel_initializer=init(0), name="dense_128"),
            keras.layers.Dense(64, activation="relu", kernel_initializer=init(1), name="dense_64"),
            keras.layers.Dense(1, kernel_initializer=init(2), name="output"),
        ],
        name="seed_mlp",
    )


def deep_mlp(
    depth: int,
    width: int = 128,
    activation: str = "tanh",
    weight_scale: float = 1.0,
    seed: int | None = None,
) -> keras.Sequential:
    """A deep, bias-free MLP with kernels drawn from ``N(0, weight_scale^2 / width)``.

    ``weight_scale`` is the ``g`` of mean-field theory: for tanh, gradients
    explode towards the input when ``g > 1`` (the chaotic phase) and vanish
    when ``g < 1``. Inputs have ``width`` features; the last layer is linear
    with ``width`` outputs so every layer has the same shape.

    >>> len(deep_mlp(depth=5, width=8).layers)
    5
    """
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if not (isinstance(weight_scale, (int, float)) and math.isfinite(weight_scale) and weight_scale > 0):
        raise ValueError(f"weight_scale must be a finite number > 0, got {weight_scale!r}")
    layers = [keras.Input(shape=(width,))]
    for i in range(depth):
        layers.append(
            keras.layers.Dense(
                width,
                activation=activation if i < depth - 1 else None,
                use_bias=False,
                kernel_initializer=keras.initializers.RandomNormal(
                    stddev=weight_scale / math.sqrt(width),
                    seed=None if seed is None else seed + i,
                ),
                name=f"layer_{i + 1}",
            )
        )
    return keras.Sequential(layers, name=f"deep_{activation}_mlp")
