"""Checkers for notebook 06, clipping at scale: unscale then clip under a loss scale, accumulate then clip once.

>>> result = check_accumulate_then_clip(lambda micro, c: micro[0])
Not yet: with 4 micro-batches your update differs from the large-batch gradient clipped once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from ..clipping import clip_by_global_norm, clip_by_norm
from ..models import seed_mlp
from .cases import batch_gradients, step_data, step_outcomes
from .framework import as_arrays, call, checker, fail, same


@checker
def check_unscaled_train_step(train_step: Callable) -> str:
    """Exercise: fix ``train_step(model, optimizer, x, y, threshold)`` under a ``LossScaleOptimizer``: unscale, clip."""
    lr, threshold, scale = 0.05, 1.0, 1024.0
    for target_scale, label in [(30.0, "a batch whose true gradient norm is above the threshold"),
                                (0.02, "a batch whose true gradient norm is below the threshold")]:
        x, y = step_data(15, target_scale)
        outcomes = step_outcomes(x, y, lr, threshold, seed=2)
        true_norm = math.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in
                                  zip(outcomes["unclipped"], outcomes["unchanged"]))) / lr
        model = seed_mlp(x.shape[1], seed=2)
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(lr), initial_scale=scale)
        optimizer.build(model.trainable_variables)  # creates dynamic_scale, as in a training loop
        call(train_step, model, optimizer, x, y, threshold, case=label)
        got = [v.numpy() for v in model.trainable_variables]
        if same(got, outcomes["right"], rtol=1e-3, atol=1e-6):
            continue
        w0 = outcomes["unchanged"]
        step = [a - b for a, b in zip(got, w0)]
        right = [a - b for a, b in zip(outcomes["right"], w0)]
        if same(got, w0, rtol=0, atol=0):
            fail("the weights did not change: apply the gradients with optimizer.apply(grads, variables).")
        ratio = float(np.linalg.norm(np.concatenate([s.ravel() for s in step]))
                      / np.linalg.norm(np.concatenate([r.ravel() for r in right])))
        if ratio < 0.01 and true_norm > threshold:
            fail(f"on {label} your step is {1 / ratio:.4g} times too short: the clip saw gradients still "
                 "multiplied by the loss scale (or LossScaleOptimizer.apply divided by it a second time). "
                 "Divide by optimizer.dynamic_scale before clipping; apply divides by it again, so multiply "
                 "back (or use gh.unscale_gradients and the inner optimizer).")
        if ratio < 0.01:
            fail(f"on {label} your step is {1 / ratio:.4g} times too short. If you unscaled before clipping, "
                 "remember that LossScaleOptimizer.apply divides by the scale itself: multiply back before apply.")
        if ratio > 100:
            fail(f"on {label} your step is {ratio:.4g} times too long: the update still carries the loss scale.")
        if same(got, outcomes["unclipped"], rtol=1e-3, atol=1e-6):
            fail(f"on {label} the step was not clipped: clip the unscaled gradients at the threshold.")
        fail(f"on {label} your step differs from SGD on the true gradient clipped at {threshold:g}.")
    return "unscale, then clip: your step equals the float32 step clipped at the threshold, for any loss scale."


# (micro-batches, threshold): the hidden cases
ACCUMULATION_CASES = ((4, 1.0), (2, 1e6))


def micro_batch_gradients(k: int) -> tuple[list[tf.Tensor], list[list[tf.Tensor]]]:
    """The hidden large batch's gradients and those of its ``k`` equal micro-batches (whose mean they are)."""
    x, y = step_data(16, 50.0)
    model = seed_mlp(x.shape[1], seed=3)
    size = len(x) // k
    micro = [batch_gradients(model, x[i * size:(i + 1) * size], y[i * size:(i + 1) * size]) for i in range(k)]
    return batch_gradients(model, x, y), micro


@checker
def check_accumulate_then_clip(accumulated_update: Callable) -> str:
    """Exercise: ``accumulated_update(micro_grads, threshold)`` -> the clipped gradient of k micro-batches' batch."""
    for k, threshold in ACCUMULATION_CASES:
        full, micro = micro_batch_gradients(k)
        mean = [tf.add_n(list(gs)) / k for gs in zip(*micro)]
        expected = [g.numpy() for g in clip_by_global_norm(full, threshold)[0]]
        out = call(accumulated_update, [list(m) for m in micro], threshold, case=f"{k} micro-batches")
        got = as_arrays(out, len(full))
        if same(got, expected, rtol=1e-4, atol=1e-6):
            continue
        if same(got, [g * k for g in expected], rtol=1e-4, atol=1e-6) or same(
                got, [g.numpy() for g in clip_by_global_norm([m * k for m in mean], threshold)[0]],
                rtol=1e-4, atol=1e-6):
            fail(f"with {k} micro-batches your update is {k} times the large-batch one: each micro-batch "
                 "gradient is of its own mean loss, so the large batch's is their average.")
        each = [tf.add_n(list(gs)) / k for gs in zip(*(clip_by_global_norm(m, threshold)[0] for m in micro))]
        if same(got, each, rtol=1e-4, atol=1e-6) or same(got, [g * k for g in each], rtol=1e-4, atol=1e-6):
            fail("you clipped each micro-batch before adding them up: the step shrinks and turns. "
                 "Accumulate first, clip once.")
        if same(got, [g.numpy() for g in clip_by_norm(mean, threshold)], rtol=1e-4, atol=1e-6):
            fail("you clipped each tensor on its own norm; the global norm spans all tensors.")
        fail(f"with {k} micro-batches your update differs from the large-batch gradient clipped once.")
    return "accumulate, then clip once: your update equals the large-batch step."

