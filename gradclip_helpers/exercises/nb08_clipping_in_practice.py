"""Checkers for notebook 08, clipping in practice: a spike detector, a threshold for a clip rate, Adam's v.

>>> result = check_threshold_for_clip_rate(lambda norms, rate: float(np.percentile(norms, 100 * (1 - rate))))
Correct: your thresholds clip the asked share of the warm-up norms, as gh.suggest_threshold(norms, percentile=100 * (1 - rate)) does.
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from ..loss_spikes import adam_sqrt_v, spike_steps
from ..thresholds import suggest_threshold
from .framework import as_array, call, checker, fail

# (k, window) of the spike detector's hidden cases, and the clip rates asked for
SPIKE_CASES = ((3.0, 20), (2.0, 5))
CLIP_RATES = (0.05, 0.01, 0.2)
ADAM_BETAS = (0.999, 0.9)


def spike_stream(seed: int, steps: int = 300) -> np.ndarray:
    """A falling, noisy loss with spikes of 3 to 20 times the loss at a few steps (one of two steps)."""
    rng = np.random.default_rng(seed)
    loss = 2.0 * np.exp(-np.arange(steps) / 80.0) + 0.05 + 0.02 * rng.standard_normal(steps) ** 2
    at = rng.choice(np.arange(30, steps - 2), size=6, replace=False)
    loss[at] *= rng.uniform(3.0, 20.0, size=6)
    loss[at[0] + 1] *= 4.0  # a spike that lasts two steps
    return loss


def norm_stream(seed: int, steps: int = 200) -> np.ndarray:
    """Gradient norms of a warm-up: log-normal around 1, with a few large ones."""
    rng = np.random.default_rng(seed)
    norms = np.exp(0.3 * rng.standard_normal(steps))
    norms[rng.choice(steps, size=4, replace=False)] *= 10.0
    return norms


@checker
def check_spike_steps(my_spike_steps: Callable) -> str:
    """Exercise: ``my_spike_steps(loss, k, window)``: steps whose loss is above k times the previous window's median."""
    for seed in (0, 1):
        loss = spike_stream(seed)
        for k, window in SPIKE_CASES:
            expected = spike_steps(loss, k, window)
            out = call(my_spike_steps, loss.copy(), k, window, case=f"k = {k:g}, window = {window}")
            got = as_array(out, "your spike steps").astype(int).ravel()
            if np.array_equal(np.sort(got), expected):
                continue
            shifted = spike_steps(np.concatenate([[loss[0]], loss[:-1]]), k, window)
            means = [i for i in range(window, len(loss)) if loss[i] > k * np.mean(loss[i - window:i])]
            if np.array_equal(np.sort(got), means):
                fail("you compared with the mean of the window; one spike in the window inflates the mean, "
                     "use the median.")
            if np.array_equal(np.sort(got), shifted) or np.array_equal(np.sort(got) + 1, expected):
                fail("your indices are off by one: return the index of the step whose loss is high.")
            if len(got) and got.min() < window:
                fail(f"the first window = {window} steps have no window before them: they are never spikes.")
            fail(f"with k = {k:g}, window = {window} the spikes are at steps {expected.tolist()}, "
                 f"you found {np.sort(got).tolist()}.")
    return "your detector finds every spike of the hidden loss curves, and only those, as gh.spike_steps does."


@checker
def check_threshold_for_clip_rate(threshold_for_clip_rate: Callable) -> str:
    """Exercise: ``threshold_for_clip_rate(norms, rate)``: a threshold that clips the share ``rate`` of the norms."""
    for seed in (0, 1):
        norms = norm_stream(seed)
        for rate in CLIP_RATES:
            expected = suggest_threshold(norms, percentile=100 * (1 - rate)).threshold
            out = call(threshold_for_clip_rate, norms.copy(), rate, case=f"rate {rate:g}")
            got = float(as_array(out, "your threshold"))
            if np.isclose(got, expected, rtol=1e-6):
                continue
            clipped = float(np.mean(norms > got))
            if np.isclose(got, np.percentile(norms, 100 * rate), rtol=1e-6):
                fail(f"your threshold clips {clipped:.0%} of the norms for rate {rate:g}: the percentile that "
                     "leaves the share rate *above* it is 100 * (1 - rate).")
            if np.isclose(got, np.percentile(norms, 1 - rate), rtol=1e-6):
                fail("np.percentile takes a percentage (0 to 100), not a fraction.")
            fail(f"for rate {rate:g} expected the {100 * (1 - rate):g}th percentile, {expected:.4g}; "
                 f"yours is {got:.4g} and clips {clipped:.1%} of the norms.")
    return ("your thresholds clip the asked share of the warm-up norms, as "
            "gh.suggest_threshold(norms, percentile=100 * (1 - rate)) does.")


def keras_adam_v(grads: list[np.ndarray], beta_2: float) -> np.ndarray:
    """Adam's ``v`` after ``optimizer.apply`` of each gradient in turn (Keras computes it)."""
    variable = keras.Variable(np.zeros_like(grads[0], dtype=np.float32))
    optimizer = keras.optimizers.Adam(1e-3, beta_2=beta_2)
    for g in grads:
        optimizer.apply([np.asarray(g, np.float32)], [variable])
    return adam_sqrt_v(optimizer, variable).astype(np.float64) ** 2


@checker
def check_adam_second_moment(adam_v: Callable) -> str:
    """Exercise: ``adam_v(grads, beta_2)``: Adam's ``v`` after the gradients ``grads`` (one array per step)."""
    rng = np.random.default_rng(0)
    grads = [rng.normal(0.0, 0.1, size=3) for _ in range(30)]
    grads[20] = np.array([10.0, -10.0, 10.0])  # a spike
    for beta_2 in ADAM_BETAS:
        expected = keras_adam_v(grads, beta_2)
        out = call(adam_v, [g.copy() for g in grads], beta_2, case=f"beta_2 = {beta_2:g}")
        got = as_array(out, "your v")
        if got.shape != expected.shape:
            fail(f"return one v per coordinate, shape {expected.shape}, got {got.shape}.")
        if np.allclose(got, expected, rtol=1e-4, atol=1e-9):
            continue
        corrected = expected / (1 - beta_2 ** len(grads))
        if np.allclose(got, corrected, rtol=1e-4, atol=1e-9):
            fail("you divided by 1 - beta_2**t: that bias correction is applied to the step, "
                 "v itself is the plain running average.")
        if np.allclose(got, expected / (1 - beta_2), rtol=1e-4, atol=1e-9):
            fail("each new g**2 enters v with the weight (1 - beta_2).")
        fail(f"with beta_2 = {beta_2:g} Keras' Adam ends with v = {np.round(expected, 5).tolist()}; "
             f"yours is {np.round(got, 5).tolist()}. Start from v = 0 and use v = beta_2 v + (1 - beta_2) g**2.")
    return ("your v matches Keras' Adam: one spike of 10 raises v by (1 - beta_2) * 100 at once, "
            "and v forgets it only by beta_2 per step.")
