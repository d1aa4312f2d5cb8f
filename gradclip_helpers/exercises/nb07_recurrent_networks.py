"""Checkers for notebook 07, recurrent networks: a step of Pascanu's Algorithm 1 per run, the clipped step's bound.

>>> result = check_rnn_step_bound(lambda lr, threshold: lr * threshold)
Correct: a clipped step is never longer than lr * threshold, and every clipped step has exactly that length.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .. import pascanu
from .framework import as_array, call, checker, fail

# (learning rate, threshold): the hidden cases of each exercise
RNN_STEP_CASES = ((0.5, 1.0), (0.1, 0.05))
RNN_BOUND_CASES = ((0.5, 1.0), (0.2, 3.0))


def rnn_starts() -> tuple[np.ndarray, np.ndarray]:
    """Six runs' (w, b): on both sides of the cliff and on its wall, where the gradient is huge."""
    w = np.array([5.0, 5.0, 6.0, 6.5, 4.5, 5.0], np.float32)
    wall = pascanu.cliff_bias(w)
    b = np.array([wall[0] - 1e-4, -1.5, wall[2], -3.8, -2.0, wall[5] + 3e-4], np.float32)
    return w, b


@checker
def check_clipped_rnn_step(clipped_rnn_step: Callable) -> str:
    """Exercise: ``clipped_rnn_step(w, b, lr, threshold)``: one step of Pascanu's Algorithm 1 for every run (arrays)."""
    w, b = rnn_starts()
    _, gw, gb = pascanu.loss_and_gradient(w, b)
    gw, gb = gw.numpy().astype(np.float64), gb.numpy().astype(np.float64)
    norm = np.hypot(gw, gb)
    for lr, threshold in RNN_STEP_CASES:
        ref = pascanu.descend(w, b, lr=lr, steps=1, threshold=threshold)
        expected = np.stack([ref.w[1], ref.b[1]])
        out = call(clipped_rnn_step, w.copy(), b.copy(), lr, threshold, case=f"lr {lr:g}, threshold {threshold:g}")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            fail("return the pair (new_w, new_b), one entry per run in each.")
        if not np.shape(out[0]) == np.shape(w) == np.shape(out[1]):
            fail(f"return new_w and new_b with the shape of w, {w.shape}: one entry per run.")
        got = np.stack([as_array(out[0]), as_array(out[1])])
        if np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            continue
        scale_all = min(1.0, threshold / math.sqrt(float(np.sum(gw ** 2 + gb ** 2))))
        wrong = {
            "unclipped": (w - lr * gw, b - lr * gb),
            "value": (w - lr * np.clip(gw, -threshold, threshold), b - lr * np.clip(gb, -threshold, threshold)),
            "batch": (w - lr * scale_all * gw, b - lr * scale_all * gb),
            "always": (w - lr * threshold * gw / norm, b - lr * threshold * gb / norm),
            "ascent": (w + lr * np.minimum(1, threshold / norm) * gw, b + lr * np.minimum(1, threshold / norm) * gb),
        }
        match = next((k for k, v in wrong.items() if np.allclose(got, np.stack(v), rtol=1e-4, atol=1e-5)), None)
        hints = {
            "unclipped": "the steps were not clipped: on the wall they throw the run far away.",
            "value": "you clipped dE/dw and dE/db separately; Algorithm 1 clips the norm of the pair (dE/dw, dE/db).",
            "batch": "each run is its own model: clip each run's (dE/dw, dE/db) on its own norm, not the norm over "
                     "all runs together.",
            "always": "you rescaled every step to length lr * threshold; only steps whose gradient norm exceeds the "
                      "threshold change.",
            "ascent": "your step goes uphill: subtract lr times the (clipped) gradient.",
        }
        fail(hints[match] if match else f"with lr {lr:g} and threshold {threshold:g} your new (w, b) differ from "
             "Algorithm 1. Hint: gh.pascanu.loss_and_gradient gives dE/dw and dE/db for every run at once.")
    return "your step is Pascanu's Algorithm 1: each run's gradient clipped on its own norm."


def bound_runs(lr: float, threshold: float) -> pascanu.Trajectories:
    """The hidden runs of the bound exercise: 60 clipped descent steps from 50 random starts."""
    w0, b0 = pascanu.random_starts(50, seed=7)
    return pascanu.descend(w0, b0, lr=lr, steps=60, threshold=threshold)


@checker
def check_rnn_step_bound(longest_clipped_step: Callable[[float, float], float]) -> str:
    """Exercise: ``longest_clipped_step(lr, threshold)``: the longest (w, b) step clipped gradient descent can make."""
    for lr, threshold in RNN_BOUND_CASES:
        runs = bound_runs(lr, threshold)
        longest = float(runs.step_lengths.max())
        got = float(as_array(call(longest_clipped_step, lr, threshold, case=f"lr {lr:g}, threshold {threshold:g}")))
        bound = lr * threshold
        if np.isclose(got, bound, rtol=1e-6):
            continue
        case = f"for lr {lr:g} and threshold {threshold:g} (measured longest step {longest:.4g})"
        if got < longest * (1 - 1e-4):
            fail(f"you returned {got:.4g} {case}: some clipped runs made longer steps than that.")
        if np.isclose(got, threshold):
            fail(f"you returned {got:.4g} {case}: the threshold bounds the gradient; the step is lr times it.")
        fail(f"you returned {got:.4g} {case}: a bound, but not the tightest one. Every clipped step has the "
             "same length.")
    return "a clipped step is never longer than lr * threshold, and every clipped step has exactly that length."
