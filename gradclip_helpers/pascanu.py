"""Pascanu, Mikolov and Bengio's (2013) one-unit RNN: its cliff, and gradient descent on it.

The model (their eq. 8): ``x_t = w * sigmoid(x_{t-1}) + b`` from ``x_0 = 0.5``,
no input, trained so that ``sigmoid(x_T)`` hits 0.7 after ``T = 50`` steps:
``E(w, b) = (sigmoid(x_T) - 0.7)^2``. Where the final state jumps from one
basin of attraction to another, ``E`` has a wall: a near-vertical step whose
gradient is thousands of times larger than anywhere else. A plain
gradient-descent step that lands on it is thrown far away (catapulted);
clipping the norm of the step stops that.

Everything is vectorised: ``w`` and ``b`` may be tensors of any (equal)
shape, one independent model per entry, so 200 descent runs or a 200 x 200
grid of the loss surface are one TensorFlow computation. Clipping in
``descend`` is per run: each run's ``(dE/dw, dE/db)`` is scaled on its own
norm, which is ``tf.clip_by_global_norm`` of that run's two gradients;
``tf.clip_by_global_norm`` over the whole batch of runs would couple them.

Nothing here uses Keras or plots.

References:
  Pascanu, Mikolov, Bengio. On the difficulty of training recurrent neural
  networks. ICML 2013, section 2.3 and figure 6.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from .clipping import check_threshold

STEPS = 50  # T, the length of the recurrence
X0 = 0.5  # initial state
TARGET = 0.7  # target for sigmoid(x_T)


def _pair(w, b) -> tuple[tf.Tensor, tf.Tensor]:
    w = tf.convert_to_tensor(w, tf.float32)
    b = tf.convert_to_tensor(b, tf.float32)
    if w.shape != b.shape:
        raise ValueError(f"w and b must have the same shape, got {w.shape} and {b.shape}")
    return w, b


def _check_steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return int(steps)


def final_state(w, b, steps: int = STEPS, x0: float = X0) -> tf.Tensor:
    """The state after ``steps`` updates of the one-unit RNN, one per entry of ``w`` and ``b``.

    Math: ``x_t = w * sigmoid(x_{t-1}) + b``, ``x_0 = x0``; returns ``x_steps``.

    Args:
      w, b: recurrent weight and bias, numbers or float32 arrays of one shape.
      steps: the number of updates ``T``.
      x0: the initial state.

    Returns:
      A float32 tensor of the shape of ``w``.

    >>> [round(v, 2) for v in final_state([5.0, 5.0], [-2.7124, -2.5124]).numpy().tolist()]
    [-2.22, 1.74]
    """
    w, b = _pair(w, b)
    steps = _check_steps(steps)
    x = tf.fill(tf.shape(w), tf.cast(x0, tf.float32))
    for _ in range(steps):
        x = w * tf.sigmoid(x) + b
    return x


def loss(w, b, steps: int = STEPS, x0: float = X0, target: float = TARGET) -> tf.Tensor:
    """Pascanu's error surface, one value per entry of ``w`` and ``b``.

    Math: ``E(w, b) = (sigmoid(x_T) - target)^2`` with ``x_T`` from ``final_state``.

    Args:
      w, b: numbers or float32 arrays of one shape.
      steps, x0, target: ``T``, ``x_0`` and the target (defaults: 50, 0.5, 0.7).

    Returns:
      A float32 tensor of the shape of ``w``.

    >>> [round(v, 3) for v in loss([5.0, 5.0], [-2.7124, -2.5124]).numpy().tolist()]
    [0.363, 0.023]
    """
    return tf.square(tf.sigmoid(final_state(w, b, steps, x0)) - target)


def loss_and_gradient(w, b, steps: int = STEPS, x0: float = X0,
                      target: float = TARGET) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``E`` and its gradient by backpropagation through time, for every entry at once.

    Math: ``(E, dE/dw, dE/db)``; the models are independent, so the gradient of
    ``sum_i E_i`` with respect to ``w_i`` is ``dE_i/dw_i``.

    Returns:
      ``(E, dE_dw, dE_db)``, float32 tensors of the shape of ``w``.

    >>> e, gw, gb = loss_and_gradient([5.0, 5.0], [-2.6124, -2.0])
    >>> bool(abs(gb[0]) > 100 * abs(gb[1]))
    True
    """
    w, b = _pair(w, b)
    with tf.GradientTape() as tape:
        tape.watch([w, b])
        e = loss(w, b, steps, x0, target)
    gw, gb = tape.gradient(e, [w, b])
    return e, gw, gb


class Surface(NamedTuple):
    """``E`` on a grid: ``loss[i, j]`` is at ``w[j]``, ``b[i]`` (rows are biases)."""

    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray


def loss_surface(w_range: tuple[float, float] = (3.0, 7.0), b_range: tuple[float, float] = (-4.0, -1.0),
                 resolution: int = 200, steps: int = STEPS) -> Surface:
    """``E(w, b)`` on a ``resolution`` x ``resolution`` grid, as numpy arrays for plotting.

    Math: ``loss[i, j] = E(w_j, b_i)``.

    Args:
      w_range, b_range: the grid's limits (Pascanu's figure 6 region by default).
      resolution: grid points per axis, at least 2.
      steps: ``T``.

    >>> s = loss_surface(resolution=3)
    >>> s.loss.shape, s.w.tolist(), s.b.tolist()
    ((3, 3), [3.0, 5.0, 7.0], [-4.0, -2.5, -1.0])
    """
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    w = np.linspace(*w_range, resolution, dtype=np.float32)
    b = np.linspace(*b_range, resolution, dtype=np.float32)
    ww, bb = np.meshgrid(w, b)
    return Surface(w, b, loss(ww, bb, steps).numpy())


def cliff_bias(w, low: float = -4.0, high: float = -1.0, steps: int = STEPS,
               iterations: int = 40) -> np.ndarray:
    """Where, for each recurrent weight ``w > 0``, the wall crosses the bias axis.

    Math: ``x_T`` increases with ``b`` (for ``w > 0``); bisection finds the ``b``
    in ``[low, high]`` where ``x_T`` crosses halfway between its values at
    ``low`` and ``high``. On a cliff (``w`` about 4.5 and above) that is the
    wall, to float32 precision; without one (``w = 4``) it is only the middle
    of a smooth rise.

    Args:
      w: a number or an array of recurrent weights, all > 0.
      low, high: a bias interval containing the wall.
      steps: ``T``.
      iterations: bisection steps (the interval shrinks by ``2**iterations``).

    Returns:
      A float32 array of the shape of ``w``.

    >>> [round(v, 3) for v in cliff_bias([5.0, 6.0, 7.0]).tolist()]
    [-2.612, -3.235, -3.857]
    """
    w = np.asarray(w, dtype=np.float32)
    if not np.all(w > 0):
        raise ValueError(f"cliff_bias needs w > 0 (x_T then increases with b), got {w.tolist()!r}")
    if not low < high:
        raise ValueError(f"need low < high, got low={low!r}, high={high!r}")
    lo = np.full(w.shape, low, np.float32)
    hi = np.full(w.shape, high, np.float32)
    middle = 0.5 * (final_state(w, lo, steps).numpy() + final_state(w, hi, steps).numpy())
    for _ in range(iterations):
        mid = (0.5 * (lo + hi)).astype(np.float32)
        above = final_state(w, mid, steps).numpy() >= middle
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return (0.5 * (lo + hi)).astype(np.float32)


def random_starts(n: int = 200, seed: int = 0, w_range: tuple[float, float] = (3.0, 7.0),
                  b_range: tuple[float, float] = (-4.0, -3.0)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` starting points below the wall, drawn uniformly (``w`` first, then ``b``).

    Math: ``w ~ U(w_range)``, ``b ~ U(b_range)`` from ``numpy.random.default_rng(seed)``.

    Returns:
      ``(w0, b0)``, float32 arrays of shape ``(n,)``.

    >>> w0, b0 = random_starts(3, seed=0)
    >>> w0.shape, bool(w0.min() >= 3 and b0.max() <= -3)
    ((3,), True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    w0 = rng.uniform(*w_range, size=n).astype(np.float32)
    b0 = rng.uniform(*b_range, size=n).astype(np.float32)
    return w0, b0


class Trajectories(NamedTuple):
    """Gradient-descent paths of many independent runs, as numpy arrays.

    ``w``, ``b``, ``loss``: shape ``(steps + 1, runs)``, row 0 is the start.
    ``grad_norm``: ``(steps, runs)``, the norm of ``(dE/dw, dE/db)`` before clipping.
    ``clipped``: ``(steps, runs)``, True where clipping changed the step.
    ``lr``, ``threshold``: the settings (``threshold`` None: no clipping).
    """

    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    lr: float
    threshold: float | None

    @property
    def method(self) -> str:
        return "none" if self.threshold is None else "global_norm"

    @property
    def step_lengths(self) -> np.ndarray:
        """``(steps, runs)``: the length of every step in the (w, b) plane."""
        return np.hypot(np.diff(self.w, axis=0), np.diff(self.b, axis=0))

    def catapulted(self, longer_than: float = 5.0) -> np.ndarray:
        """``(runs,)``: True for runs that made at least one step longer than ``longer_than``."""
        return self.step_lengths.max(axis=0) > longer_than

    def converged(self, tol: float = 0.05) -> np.ndarray:
        """``(runs,)``: True for runs whose final loss is below ``tol``."""
        return self.loss[-1] < tol

    @property
    def clip_fraction(self) -> float:
        """Share of (run, step) pairs on which clipping changed the step."""
        return float(np.mean(self.clipped))


@tf.function(reduce_retracing=True)
def _descend(w, b, lr, threshold, n_steps, recurrence, x0, target):
    ws = tf.TensorArray(tf.float32, size=n_steps + 1).write(0, w)
    bs = tf.TensorArray(tf.float32, size=n_steps + 1)
    es = tf.TensorArray(tf.float32, size=n_steps + 1)
    norms = tf.TensorArray(tf.float32, size=n_steps)
    flags = tf.TensorArray(tf.bool, size=n_steps)
    bs = bs.write(0, b)
    for i in tf.range(n_steps):
        e, gw, gb = loss_and_gradient(w, b, recurrence, x0, target)
        norm = tf.sqrt(gw * gw + gb * gb)
        clip = norm > threshold  # per run: tf.clip_by_global_norm([gw_i, gb_i], threshold)
        scale = tf.where(clip, threshold / norm, tf.ones_like(norm))
        w = w - lr * scale * gw
        b = b - lr * scale * gb
        es = es.write(i, e)
        norms = norms.write(i, norm)
        flags = flags.write(i, clip)
        ws = ws.write(i + 1, w)
        bs = bs.write(i + 1, b)
    es = es.write(n_steps, loss(w, b, recurrence, x0, target))
    return ws.stack(), bs.stack(), es.stack(), norms.stack(), flags.stack()


def descend(w0, b0, *, lr: float = 0.5, steps: int = 300, threshold: float | None = None,
            recurrence: int = STEPS, x0: float = X0, target: float = TARGET) -> Trajectories:
    """Full-batch gradient descent on ``E`` from every start at once, with optional norm clipping.

    Math: ``g = (dE/dw, dE/db)``; ``(w, b) <- (w, b) - lr * g * min(1, c / ||g||)``
    per run (Pascanu's Algorithm 1 with threshold ``c``; ``c = None``: no clipping).

    Args:
      w0, b0: starting points, float32 arrays of shape ``(runs,)``.
      lr: the learning rate (0.5 in the course's E1 experiment).
      steps: the number of descent steps.
      threshold: the clipping threshold ``c > 0``, or None.
      recurrence, x0, target: the model's ``T``, ``x_0`` and target.

    Returns:
      ``Trajectories``; no step of a clipped run is longer than ``lr * c``.

    >>> t = descend([6.651], [-3.398], lr=0.5, steps=300, threshold=1.0)
    >>> t.w.shape, bool(t.step_lengths.max() <= 0.5 + 1e-6), bool(t.converged()[0])
    ((301, 1), True, True)
    """
    w0, b0 = _pair(w0, b0)
    if w0.shape.rank != 1:
        raise ValueError(f"w0 and b0 must be 1-D arrays (one entry per run), got shape {w0.shape}")
    steps = _check_steps(steps)
    recurrence = _check_steps(recurrence)
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if threshold is not None:
        threshold = check_threshold("threshold", threshold)
    c = np.inf if threshold is None else threshold
    w, b, e, norms, flags = _descend(w0, b0, tf.constant(lr, tf.float32), tf.constant(c, tf.float32),
                                     tf.constant(steps), recurrence, tf.constant(x0, tf.float32),
                                     tf.constant(target, tf.float32))
    return Trajectories(w.numpy(), b.numpy(), e.numpy(), norms.numpy(), flags.numpy(),
                        float(lr), threshold)
