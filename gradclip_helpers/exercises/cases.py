"""Hidden cases shared by several notebooks' checkers: random gradients, a small batch, one SGD step.

The checkers compute their expected answers from these with the package at
check time; nothing here is a reference solution.

>>> [None if g is None else tuple(g.shape) for g in random_grads(0, [(2, 3), None], [1.0, 1.0])]
[(2, 3), None]
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from ..clipping import clip_by_global_norm, clip_by_norm, clip_by_value
from ..models import seed_mlp


def random_grads(seed: int, shapes: Sequence[tuple[int, ...] | None], scales: Sequence[float]) -> list:
    """A gradient list of float32 tensors with the given shapes (None kept), each scaled by its factor."""
    rng = np.random.default_rng(seed)
    return [None if s is None else tf.constant(rng.standard_normal(s) * k, tf.float32)
            for s, k in zip(shapes, scales)]


def step_data(seed: int, scale: float, n_inputs: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A batch of 16 standard-normal inputs and targets of standard deviation ``scale``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, n_inputs)).astype(np.float32)
    return x, (scale * rng.standard_normal((16, 1))).astype(np.float32)


def batch_gradients(model: keras.Model, x, y) -> list[tf.Tensor]:
    """The gradients of the mean squared error of ``model`` on one batch."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
    return tape.gradient(loss, model.trainable_variables)


def step_outcomes(x, y, lr: float, clip: float, seed: int = 1) -> dict[str, list[np.ndarray]]:
    """The seed MLP's weights after one SGD step done right and in the usual wrong ways (and the loss)."""
    model = seed_mlp(x.shape[1], seed=seed)
    w0 = [v.numpy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    variants = {"right": clip_by_global_norm(grads, clip)[0], "unclipped": grads,
                "per_tensor": clip_by_norm(grads, clip), "value": clip_by_value(grads, clip)}
    out = {name: [w - lr * g.numpy() for w, g in zip(w0, gs)] for name, gs in variants.items()}
    out["unchanged"] = w0
    out["loss"] = float(loss)
    return out
