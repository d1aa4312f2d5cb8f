"""Checkers for notebook 05, adaptive clipping: AGC's unit-wise rule on a kernel, AutoClip's thresholds step by step.

>>> import numpy as np
>>> result = check_autoclip_thresholds(lambda norms, p, warmup, c: np.percentile(norms, p))
Not yet: return one threshold per step: 30 values for 30 norms, got shape ().
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ..adaptive import AGCClipper, percentile
from .framework import as_array, call, checker, fail


def _agc_variants(g: np.ndarray, w: np.ndarray, lam: float, eps: float) -> dict[str, np.ndarray]:
    def rule(g_norm, w_norm):
        limit = lam * w_norm
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(g_norm > limit, g * limit / np.maximum(g_norm, 1e-6), g)

    col = lambda a: np.linalg.norm(a, axis=0, keepdims=True)  # noqa: E731
    row = lambda a: np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    whole = lambda a: np.linalg.norm(a)  # noqa: E731
    return {
        "rows": rule(row(g), np.maximum(row(w), eps)),
        "tensor": rule(whole(g), max(whole(w), eps)),
        "no_eps": rule(col(g), col(w)),
        "always": g * lam * np.maximum(col(w), eps) / np.maximum(col(g), 1e-6),
    }


@checker
def check_agc_kernel(agc_clip_kernel: Callable) -> str:
    """Exercise: ``agc_clip_kernel(grad, weight, lam, eps)``: AGC's unit-wise rule for a Dense kernel (in, out)."""
    rng = np.random.default_rng(13)
    w = rng.standard_normal((6, 5)).astype(np.float32) * 0.4
    w[:, 2] = 0.0  # a unit with zero weights: only the eps floor lets it move
    g = rng.standard_normal((6, 5)).astype(np.float32) * np.array([0.01, 0.5, 0.2, 0.001, 2.0], np.float32)
    for lam, eps in [(0.1, 1e-3), (0.5, 1e-2)]:
        expected = AGCClipper(lam, eps=eps, exclude_final_layer=False).clip(
            [tf.constant(g)], [tf.Variable(w)]).grads[0].numpy()
        out = call(agc_clip_kernel, g.copy(), w.copy(), lam, eps, case=f"lambda = {lam:g}")
        got = as_array(out)
        if got.shape != g.shape:
            fail(f"return the clipped gradient with the kernel's shape {g.shape}, got {got.shape}.")
        if np.allclose(got, expected, rtol=1e-4, atol=1e-7):
            continue
        variants = _agc_variants(g.astype(np.float64), w.astype(np.float64), lam, eps)
        if np.allclose(got, variants["rows"], rtol=1e-4, atol=1e-7):
            fail("a unit of a Dense kernel (in, out) is a column: its fan-in weights. Take the norms over "
                 "axis 0, one per output unit.")
        if np.allclose(got, variants["tensor"], rtol=1e-4, atol=1e-7):
            fail("AGC is unit-wise: one ratio ||G_i|| / ||W_i|| per output unit, not one for the whole tensor.")
        if np.allclose(got, variants["always"], rtol=1e-4, atol=1e-7):
            fail("only units whose ratio exceeds lambda change; the others keep their gradient.")
        if not np.allclose(got[:, 2], expected[:, 2], rtol=1e-4, atol=1e-7) and np.allclose(
                np.delete(got, 2, axis=1), np.delete(expected, 2, axis=1), rtol=1e-4, atol=1e-7):
            fail("the unit whose weights are all zero is wrong: floor the weight norm at eps, "
                 "max(||W_i||, eps), or that unit could never move.")
        fail(f"for lambda = {lam:g} your clipped kernel differs from AGC's. Hint: a unit is clipped to "
             "lambda * max(||W_i||, eps) in norm, keeping its direction.")
    return "your kernel matches gh.AGCClipper, the zero-weight unit included."


# (percentile p, warm-up steps, warm-up threshold): the hidden cases
AUTOCLIP_CASES = ((10.0, 5, 3.0), (50.0, 0, 3.0))


def autoclip_norms() -> np.ndarray:
    """The hidden gradient norms: 30 log-normal values around 10."""
    rng = np.random.default_rng(14)
    return np.exp(rng.standard_normal(30)).astype(np.float32) * 10.0


def autoclip_expected(norms: np.ndarray, p: float, warmup: int, threshold: float) -> np.ndarray:
    """AutoClip's threshold at every step, from the package's ``percentile`` of the norms seen so far.

    >>> autoclip_expected(np.array([1.0, 3.0, 2.0]), 50.0, 1, 9.0)
    array([9., 2., 2.])
    """
    return np.array([threshold if k < warmup else float(percentile(tf.constant(norms[:k + 1], tf.float32), p))
                     for k in range(len(norms))])


@checker
def check_autoclip_thresholds(autoclip_thresholds: Callable) -> str:
    """Exercise: ``autoclip_thresholds(norms, p, warmup_steps, warmup_threshold)`` -> AutoClip's threshold per step."""
    norms = autoclip_norms()
    for p, warmup, threshold in AUTOCLIP_CASES:
        expected = autoclip_expected(norms, p, warmup, threshold)
        got = as_array(call(autoclip_thresholds, norms.copy(), p, warmup, threshold, case=f"p = {p:g}"))
        if got.shape != expected.shape:
            fail(f"return one threshold per step: {len(norms)} values for {len(norms)} norms, got shape {got.shape}.")
        if np.allclose(got, expected, rtol=1e-4):
            continue
        shifted = np.array([threshold if k < warmup else np.percentile(norms[:max(k, 1)], p)
                            for k in range(len(norms))])
        if np.allclose(got, shifted, rtol=1e-4):
            fail("the current step's norm joins the history before the percentile is taken.")
        if np.allclose(got[warmup:], expected[warmup:], rtol=1e-4):
            fail(f"the first {warmup} steps (the warm-up) use the fixed warm-up threshold.")
        if warmup and not np.allclose(got[:warmup], threshold):
            fail(f"the first {warmup} steps (the warm-up) use the fixed warm-up threshold.")
        if np.allclose(got[warmup:], np.percentile(norms, p), rtol=1e-4):
            fail("at step k only the norms seen so far (steps 0..k) are known.")
        if np.allclose(got[warmup:], [np.percentile(norms[:k + 1], p / 100) for k in range(warmup, len(norms))],
                       rtol=1e-4):
            fail("p is a percentile between 0 and 100, as np.percentile expects (np.quantile takes 0 to 1).")
        fail(f"with p = {p:g} and a warm-up of {warmup} steps your thresholds differ from AutoClip's. "
             "Hint: the percentile uses linear interpolation, as np.percentile's default.")
    return "your thresholds match gh.AutoClipClipper step by step."

