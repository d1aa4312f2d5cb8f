"""Checkers for notebook 03, norm clipping: clip by global norm, which methods keep the direction, rescale a threshold.

>>> result = check_rescaled_threshold(lambda c, warmup_lr, lr: c * warmup_lr / lr)
Correct: the step cap lr * c stays the same at the new learning rate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ..clipping import clip_by_global_norm, clip_by_norm, clip_by_value
from ..diagnostics import cosine_similarity
from .cases import random_grads
from .framework import NotAttempted, as_array, as_arrays, call, checker, fail, same


@checker
def check_clip_by_global_norm(my_clip_by_global_norm: Callable[[list, float], tuple]) -> str:
    """Exercise: ``my_clip_by_global_norm(grads, clip_norm)`` -> ``(clipped, norm)`` as ``tf.clip_by_global_norm``."""
    big = random_grads(6, [(4, 3), (3,), (3, 1), (1,)], [3.0, 0.2, 2.0, 0.05])
    small = random_grads(7, [(2, 2), (2,)], [0.1, 0.1])
    with_none = random_grads(8, [(3, 2), None, (2,)], [2.0, 1.0, 1.0])
    for grads, c, label in [(big, 2.0, "tensors of different norms"), (small, 5.0, "gradients already short"),
                            (with_none, 1.0, "a list with a None entry")]:
        out = call(my_clip_by_global_norm, list(grads), c, case=label,
                   hint="pass None entries through and leave them out of the norm." if "None" in label else "")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            fail("return a pair (clipped_list, global_norm_before_clipping), as tf.clip_by_global_norm does.")
        clipped, norm = out
        got = as_arrays(clipped, len(grads))
        expected, expected_norm = tf.clip_by_global_norm(grads, c)
        expected = [None if g is None else g.numpy() for g in expected]
        expected_norm = float(expected_norm)
        norm = float(as_array(norm, "the norm you returned"))
        values = [g.numpy() for g in grads if g is not None]
        if not np.isclose(norm, expected_norm, rtol=1e-5):
            if np.isclose(norm, min(expected_norm, c), rtol=1e-5):
                fail("return the global norm *before* clipping (it is what you log and compare with the threshold).")
            if np.isclose(norm, sum(np.linalg.norm(v) for v in values), rtol=1e-5):
                fail("the global norm is sqrt(sum_k ||g_k||^2), not the sum of the tensors' norms.")
            fail(f"on {label} the global norm should be {expected_norm:.4g}, you returned {norm:.4g}. "
                 "It spans all tensors, as if they were one long vector.")
        if same(got, expected):
            continue
        per_tensor = [None if g is None else g.numpy() for g in clip_by_norm(grads, c)]
        if same(got, per_tensor):
            fail("you clipped each tensor on its own norm; the global norm spans all tensors, and every "
                 "tensor gets the same scale factor.")
        if expected_norm <= c:
            fail(f"on {label} the global norm {expected_norm:.3g} is already at most {c:g}: leave the "
                 "gradients unchanged.")
        fail(f"on {label} the clipped tensors differ from tf.clip_by_global_norm. Hint: after clipping, "
             "the global norm should be exactly clip_norm.")
    return "your function matches tf.clip_by_global_norm: clipped tensors and the norm before clipping."


DIRECTION_METHODS = ("value", "norm", "global_norm")


@checker
def check_keeps_direction(prediction: dict) -> str:
    """Exercise: predict, per method in ``DIRECTION_METHODS``, whether clipping keeps the gradient's direction."""
    if not isinstance(prediction, dict):
        fail("answer with a dict such as {'value': True, 'norm': True, 'global_norm': True}.")
    if all(value is None for value in prediction.values()):
        raise NotAttempted
    missing = [m for m in DIRECTION_METHODS if m not in prediction]
    if missing:
        fail(f"give a True/False prediction for every method; missing: {', '.join(missing)}.")
    if any(not isinstance(prediction[m], (bool, np.bool_)) for m in DIRECTION_METHODS):
        fail("each prediction must be True or False.")
    grads = random_grads(9, [(5, 4), (4,), (4, 1), (1,)], [3.0, 0.5, 2.0, 0.1])
    c = 0.3  # small enough that every method clips
    clipped = {"value": clip_by_value(grads, c), "norm": clip_by_norm(grads, c),
               "global_norm": clip_by_global_norm(grads, c)[0]}
    hints = {
        "value": "does every entry of the gradient get multiplied by the same number?",
        "norm": "with several tensors of different norms, does each tensor get the same scale factor?",
        "global_norm": "one scale factor for every entry of every tensor: what happens to the direction?",
    }
    wrong = [m for m in DIRECTION_METHODS if bool(prediction[m]) != (cosine_similarity(grads, clipped[m]) > 0.9999)]
    if wrong:
        fail(f"{len(wrong)} of {len(DIRECTION_METHODS)} predictions disagree with the measured cosine. "
             + " ".join(f"'{m}': {hints[m]}" for m in wrong))
    cosines = ", ".join(f"{m} {cosine_similarity(grads, clipped[m]):.3f}" for m in DIRECTION_METHODS)
    return f"measured cosines between the gradient and its clipped version: {cosines}."


@checker
def check_rescaled_threshold(rescale_threshold: Callable[[float, float, float], float]) -> str:
    """Exercise: ``rescale_threshold(c, warmup_lr, lr)`` -> the threshold at ``lr`` with the warm-up's step cap."""
    for c, warmup_lr, lr in [(150.0, 3e-4, 0.01), (5.0, 0.1, 0.01), (1.0, 0.01, 0.01)]:
        expected = c * warmup_lr / lr
        got = float(as_array(call(rescale_threshold, c, warmup_lr, lr, case=f"c = {c:g}")))
        if np.isclose(got, expected, rtol=1e-6):
            continue
        case = f"for c = {c:g} found at lr {warmup_lr:g}, training at lr {lr:g}"
        if np.isclose(got, c * lr / warmup_lr, rtol=1e-6):
            fail(f"you returned {got:.4g} {case}: the wrong way round. A larger learning rate makes every "
                 "clipped step longer, so it needs a smaller threshold.")
        fail(f"you returned {got:.4g} {case}. Hint: an SGD step clipped at c has length lr * c; keep that length.")
    return "the step cap lr * c stays the same at the new learning rate."

