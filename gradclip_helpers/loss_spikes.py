"""Loss spikes, counted, and what a gradient spike leaves in Adam's second moment.

A **loss spike** here is a step whose loss is more than ``k`` times the median
of the ``window`` steps before it (the median ignores the spikes themselves).
Consecutive spike steps count as one spike. ``floor`` keeps a run whose loss
is already near zero from calling every wiggle a spike.

Adam divides each step by ``sqrt(v)``, its running mean of squared gradients
(``v <- beta_2 v + (1 - beta_2) g**2``). A gradient spike that reaches Adam
inflates ``v`` at once, and ``v`` forgets it only by ``beta_2`` per step, so the
steps after a spike are smaller for hundreds of steps. ``adam_sqrt_v`` reads
``sqrt(v)`` of one variable from a Keras optimizer; ``adam_rms_trace``
reconstructs its root mean square at every step from the per-variable
gradient norms that ``train(..., record_layer_norms=True)`` records. Nothing
here trains or plots.
"""

from __future__ import annotations

import keras
import numpy as np


def spike_steps(loss, k: float = 3.0, window: int = 20, floor: float = 0.0) -> np.ndarray:
    """Indices of the steps whose loss is above ``k * max(median of the previous window, floor)``.

    The first ``window`` steps are never spikes (no history to compare with).

    >>> spike_steps([1.0] * 5 + [4.0, 1.0], k=3, window=5).tolist()
    [5]
    """
    if not (isinstance(k, (int, float)) and k > 1):
        raise ValueError(f"k must be a number > 1, got {k!r}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    loss = np.asarray(loss, dtype=np.float64)
    if len(loss) <= window:
        return np.zeros(0, dtype=int)
    previous = np.lib.stride_tricks.sliding_window_view(loss[:-1], window)  # row i: steps i .. i+window-1
    reference = np.maximum(np.median(previous, axis=1), floor)
    later = loss[window:]
    return np.flatnonzero(~np.isfinite(later) | (later > k * reference)) + window


def count_spikes(loss, k: float = 3.0, window: int = 20, floor: float = 0.0) -> int:
    """Number of loss spikes: runs of consecutive ``spike_steps`` count once.

    >>> count_spikes([1.0] * 5 + [4.0, 5.0, 1.0, 9.0], k=3, window=5)
    2
    """
    steps = spike_steps(loss, k, window, floor)
    return int(len(steps) and 1 + np.sum(np.diff(steps) > 1))


def adam_sqrt_v(optimizer: keras.optimizers.Optimizer, variable) -> np.ndarray:
    """``sqrt(v)`` of one variable: the per-coordinate scale a Keras Adam divides its step by.

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    >>> opt = keras.optimizers.Adam(0.1, beta_2=0.5)
    >>> opt.apply([np.array([[3.0], [4.0]], np.float32)], model.trainable_variables)
    >>> adam_sqrt_v(opt, model.trainable_variables[0]).ravel().tolist()  # sqrt(0.5 g**2)
    [2.1213202476501465, 2.8284270763397217]
    """
    name = variable.path.replace("/", "_") + "_velocity"
    found = [v for v in optimizer.variables if v.name == name]
    if not found:
        raise ValueError(f"the optimizer has no second moment {name!r}: is it an Adam that has taken a step "
                         f"on {variable.path!r}?")
    return np.sqrt(found[0].numpy())


def adam_rms_trace(history, variable: int | str, size: int, beta_2: float = 0.999) -> np.ndarray:
    """Root mean square of Adam's ``sqrt(v)`` for one variable after every step of a ``train()`` run.

    Math: the mean of ``v`` over the variable's ``size`` coordinates follows
    ``vbar_t = beta_2 vbar_{t-1} + (1 - beta_2) (s_t ||g_t||)**2 / size`` on
    the steps that were applied (unchanged on skipped steps), where
    ``||g_t||`` is the variable's gradient norm before clipping and
    ``s_t = clipped_norm / grad_norm`` the global-norm clipping factor.
    Returns ``sqrt(vbar_t)``; its last value equals
    ``sqrt(mean(adam_sqrt_v(optimizer, variable) ** 2))``.

    Args:
      history: a ``History`` recorded with ``record_layer_norms=True`` and a
        global-norm clipper (or none).
      variable: the variable's index in ``history.variable_names``, or its name.
      size: the number of coordinates of the variable (``np.prod(shape)``).
      beta_2: the optimizer's ``beta_2``.
    """
    if history.layer_norms is None:
        raise ValueError("the history has no per-variable norms: train with record_layer_norms=True")
    if history.method not in ("none", "global_norm"):
        raise ValueError(f"clipping by {history.method!r} does not scale every variable alike; "
                         "use a global-norm clipper or none")
    index = history.variable_names.index(variable) if isinstance(variable, str) else int(variable)
    before = np.asarray(history.grad_norm, dtype=np.float64)
    after = np.asarray(history.clipped_norm, dtype=np.float64)
    scale = np.where(before > 0, np.minimum(after / np.where(before > 0, before, 1.0), 1.0), 1.0)
    squared = (scale * np.asarray(history.layer_norms[:, index], dtype=np.float64)) ** 2 / size
    out, vbar = np.empty(len(squared)), 0.0
    for t, (g2, applied) in enumerate(zip(squared, history.applied)):
        if applied:
            vbar = beta_2 * vbar + (1 - beta_2) * g2
        out[t] = vbar
    return np.sqrt(out)
