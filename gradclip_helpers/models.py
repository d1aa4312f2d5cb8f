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


def irnn(hidden: int = 100, length: int = 50, n_inputs: int = 2, unroll: bool = True,
         seed: int | None = None) -> keras.Sequential:
    """An IRNN (Le et al. 2015): a ReLU ``SimpleRNN`` whose recurrent kernel starts as the identity.

    Math: ``h_t = relu(W_hh h_{t-1} + W_xh x_t + b)`` with ``W_hh = I``,
    ``W_xh ~ N(0, 0.001^2)``, ``b = 0``; output ``Dense(1)`` of ``h_T``.
    With ``W_hh = I`` the state is carried unchanged while the units are
    active, so gradients neither vanish nor explode at first; any step that
    pushes the spectral radius of ``W_hh`` above 1 makes them grow like
    ``rho**T`` through time.

    Args:
      hidden: recurrent units.
      length: time steps per input sequence.
      n_inputs: features per time step (2 for ``adding_problem``).
      unroll: unroll the recurrence into ``length`` copies of the cell; on a
        CPU this trains several times faster for sequences of tens of steps.
      seed: fixes the initial input and output kernels.

    >>> model = irnn(hidden=8, length=10, seed=0)
    >>> model.count_params(), model.output_shape
    (97, (None, 1))
    >>> import numpy as np
    >>> bool((model.layers[0].cell.recurrent_kernel.numpy() == np.eye(8)).all())
    True
    """
    for name, value in (("hidden", hidden), ("length", length), ("n_inputs", n_inputs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    seeded = lambda i: None if seed is None else seed + i  # noqa: E731
    return keras.Sequential(
        [
            keras.Input(shape=(length, n_inputs)),
            keras.layers.SimpleRNN(
                hidden,
                activation="relu",
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.001, seed=seeded(0)),
                recurrent_initializer=keras.initializers.Identity(),
                bias_initializer="zeros",
                unroll=unroll,
                name="irnn",
            ),
            keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=seeded(1)),
                               name="output"),
        ],
        name="irnn",
    )
