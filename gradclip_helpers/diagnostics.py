"""Measurements on gradients: per-layer norms, growth rates, directions.

These functions measure; they neither train nor plot.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from .clipping import Gradient, _values


def layer_gradient_norms(model: keras.Model, batch_size: int = 128, seed: int = 0) -> np.ndarray:
    """Frobenius norm of the loss gradient for each layer's kernel, first layer first.

    Uses a fixed random probe loss ``L = sum(out * r) / batch_size`` with
    ``x, r ~ N(0, 1)``, a clean way to measure how a backward signal grows
    through the layers (any loss gives the same per-layer slope).

    >>> from gradclip_helpers.models import deep_mlp
    >>> layer_gradient_norms(deep_mlp(depth=3, width=8, seed=0), batch_size=4).shape
    (3,)
    """
    width = model.inputs[0].shape[-1]
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal((batch_size, width)), tf.float32)
    out_width = model.outputs[0].shape[-1]
    r = tf.constant(rng.standard_normal((batch_size, out_width)) / batch_size, tf.float32)
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x, training=True) * r)
    grads = tape.gradient(loss, kernels)
    return np.array([float(tf.norm(g)) for g in grads])


def fit_growth_rate(norms: Sequence[float], first: int = 0, last: int | None = None) -> float:
    """Per-layer factor by which ``norms`` grow from the output towards the input.

    Fits ``log(norm)`` against layer index by least squares over
    ``norms[first:last]`` and returns ``exp(-slope)``: 1.2 means each layer
    closer to the input has a 20 % larger gradient.

    >>> round(fit_growth_rate([8.0, 4.0, 2.0, 1.0]), 6)
    2.0
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(np.asarray(norms, dtype=np.float64)[first:last])
    if len(y) < 2 or not np.all(np.isfinite(y)):
        raise ValueError("need at least two finite, positive norms to fit a growth rate")
    slope = np.polyfit(np.arange(len(y)), y, 1)[0]
    return float(np.exp(-slope))


def predicted_growth_rate(activation: str, weight_scale: float, n_points: int = 301) -> float:
    """Mean-field prediction ``sqrt(chi_1)`` of the per-layer gradient growth.

    For kernels ``N(0, g^2/n)``: ``chi_1 = g^2`` (linear), ``g^2 / 2`` (relu),
    and for tanh ``chi_1 = g^2 E[sech^4(sqrt(q*) z)]`` where the fixed point
    ``q* = g^2 E[tanh^2(sqrt(q*) z)]``, expectations over ``z ~ N(0, 1)``
    computed by Gauss-Hermite quadrature.

    References:
      Schoenholz, Gilmer, Ganguli, Sohl-Dickstein. Deep information
      propagation. ICLR 2017.

    >>> round(predicted_growth_rate("tanh", 2.0), 3)
    1.167
    """
    g2 = float(weight_scale) ** 2
    if activation == "linear":
        return float(np.sqrt(g2))
    if activation == "relu":
        return float(np.sqrt(g2 / 2))
    if activation != "tanh":
        raise ValueError(f"activation must be 'tanh', 'relu' or 'linear', got {activation!r}")
    z, w = np.polynomial.hermite_e.hermegauss(n_points)
    w = w / w.sum()
    q = 1.0
    for _ in range(500):
        q = g2 * np.sum(w * np.tanh(np.sqrt(q) * z) ** 2)
    chi = g2 * np.sum(w / np.cosh(np.sqrt(q) * z) ** 4)
    return float(np.sqrt(chi))


def flatten(grads: Sequence[Gradient]) -> np.ndarray:
    """All gradient entries in one float64 vector (``None`` entries skipped)."""
    parts = [np.ravel(tf.cast(_values(g), tf.float64).numpy()) for g in grads if g is not None]
    return np.concatenate(parts) if parts else np.zeros(0)


def cosine_similarity(a: Sequence[Gradient], b: Sequence[Gradient]) -> float:
    """Cosine of the angle between two gradient lists seen as single vectors.

    1.0 means the same direction (global-norm clipping); less means clipping
    bent the update.

    >>> cosine_similarity([tf.constant([1.0, 0.0])], [tf.constant([2.0, 0.0])])
    1.0
    """
    u, v = flatten(a), flatten(b)
    if u.shape != v.shape:
        raise ValueError(f"gradient lists differ in size: {u.size} vs {v.size} entries")
    denom = np.linalg.norm(u) * np.linalg.norm(v)
    if denom == 0:
        raise ValueError("cosine similarity is undefined for a zero gradient")
    return float(np.clip(u @ v / denom, -1.0, 1.0))


def gradients(model: keras.Model, loss: keras.losses.Loss | str, x: np.ndarray, y: np.ndarray) -> list[tf.Tensor]:
    """The gradient of ``loss(y, model(x))`` for each trainable variable.

    >>> from gradclip_helpers.models import seed_mlp
    >>> len(gradients(seed_mlp(3, seed=0), "mse", np.ones((4, 3)), np.ones((4, 1))))
    6
    """
    loss_fn = keras.losses.get(loss)
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(loss_fn(y, model(x, training=True)))
    return tape.gradient(value, model.trainable_variables)
