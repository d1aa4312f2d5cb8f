"""Why clipping helps, in one dimension: gradient descent on ``f(x) = x**4`` (Zhang et al. 2020).

``f`` has no global Lipschitz constant for its gradient: the curvature
``f''(x) = 12 x**2`` grows without bound. It is ``(L0, L1)``-smooth, the
condition of Zhang, He, Sra and Jadbabaie: ``|f''(x)| <= L0 + L1 |f'(x)|``
(here with ``L0 = 12``, ``L1 = 3``), so the curvature is large only where the
gradient is large. A fixed step that is safe near the minimum overshoots from a
large start, and every overshoot lands further out: gradient descent diverges.
Clipped gradient descent takes steps of at most ``lr * c`` where the gradient is
large and plain steps where it is small, and converges from any start.

The gradient comes from ``tf.GradientTape`` and the clipping from
``clip_by_global_norm`` (``tf.clip_by_global_norm``). Nothing here plots.

References:
  Zhang, He, Sra, Jadbabaie. Why gradient clipping accelerates training: a
  theoretical justification for adaptivity. ICLR 2020, arXiv:1905.11881.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .clipping import clip_by_global_norm

L0, L1 = 12.0, 3.0  # |f''(x)| = 12 x**2 <= L0 + L1 |f'(x)| = 12 + 12 |x|**3 for every x


def loss(x) -> tf.Tensor:
    """``f(x) = x**4``."""
    return tf.convert_to_tensor(x, tf.float32) ** 4


def descend(x0: float, lr: float, steps: int, threshold: float | None = None) -> np.ndarray:
    """Gradient descent on ``x**4`` from ``x0``; with ``threshold``, the gradient clipped at that norm.

    Returns the ``steps + 1`` iterates ``x_0 .. x_steps`` (float64; once ``|x|``
    passes ``1e30`` the run has diverged and the rest are ``inf``).

    >>> descend(1.0, lr=0.1, steps=2).round(4).tolist()
    [1.0, 0.6, 0.5136]
    >>> descend(3.0, lr=0.1, steps=2, threshold=1.0).round(4).tolist()  # steps of lr * c
    [3.0, 2.9, 2.8]
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    x = tf.Variable(float(x0), dtype=tf.float32)
    path = [float(x0)]
    for _ in range(steps):
        if not abs(path[-1]) < 1e30:
            path.append(np.inf)
            continue
        with tf.GradientTape() as tape:
            value = loss(x)
        grads = tape.gradient(value, [x])
        if threshold is not None:
            grads, _ = clip_by_global_norm(grads, threshold)
        x.assign_sub(lr * grads[0])
        new = float(x.numpy())
        path.append(new if np.isfinite(new) and abs(new) < 1e30 else np.inf)
    return np.asarray(path, dtype=np.float64)


def is_l0_l1_smooth(x) -> np.ndarray:
    """Whether ``|f''(x)| <= L0 + L1 |f'(x)|`` holds at each ``x`` (it does everywhere).

    >>> is_l0_l1_smooth([0.0, 0.5, 1.0, 100.0]).tolist()
    [True, True, True, True]
    """
    x = tf.constant(np.asarray(x, dtype=np.float64))
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            value = x ** 4
        first = inner.gradient(value, x)
    second = outer.gradient(first, x)
    return (tf.abs(second) <= L0 + L1 * tf.abs(first) + 1e-9).numpy()
