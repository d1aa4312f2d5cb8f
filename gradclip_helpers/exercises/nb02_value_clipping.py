"""Checkers for notebook 02, value clipping: clip a gradient list by value, find the largest clip value that trains.

>>> import tensorflow as tf
>>> result = check_clip_by_value(lambda grads, c: [None if g is None else tf.clip_by_value(g, -c, c) for g in grads])
Correct: your function matches gh.clip_by_value (and tf.clip_by_value), None entries included.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from .. import History, train  # the package-level names (training.py is being split into modules)
from ..clipping import clip_by_value
from ..data import make_regression
from ..models import seed_mlp
from .cases import random_grads
from .framework import as_arrays, call, checker, fail, same


@checker
def check_clip_by_value(my_clip_by_value: Callable[[list, float], list]) -> str:
    """Exercise: ``my_clip_by_value(grads, clip_value)`` over a list that may hold ``None``."""
    plain = random_grads(4, [(3, 4), (5,), (2, 2)], [2.0, 0.5, 3.0])
    with_none = random_grads(5, [(4, 3), None, (6,), None], [1.5, 1.0, 4.0, 1.0])
    for grads, c, label in [(plain, 1.0, "three tensors"), (plain, 0.5, "three tensors"),
                            (with_none, 1.0, "a list with None entries")]:
        out = call(my_clip_by_value, list(grads), c, case=label,
                   hint="a variable the loss does not use has the gradient None: pass None through."
                   if "None" in label else "")
        got = as_arrays(out, len(grads))
        expected = [None if g is None else g.numpy() for g in clip_by_value(grads, c)]
        if same(got, expected):
            continue
        if any((x is None) != (y is None) for x, y in zip(got, expected)):
            fail("keep None where the gradient is None, and a clipped tensor everywhere else.")
        pairs = [(x, y, g.numpy()) for x, y, g in zip(got, expected, grads) if g is not None]
        if any(x.shape != y.shape for x, y, _ in pairs):
            fail("each clipped gradient must have the shape of its gradient.")
        if any(np.any(x < -c - 1e-6) for x, _, _ in pairs):
            fail(f"some entries are still below -{c:g}: clip both sides, into [-c, c].")
        if any(np.any(x > c + 1e-6) for x, _, _ in pairs):
            fail(f"some entries are still above {c:g}: clip both sides, into [-c, c].")
        inside = [(x[np.abs(g) <= c], g[np.abs(g) <= c]) for x, _, g in pairs]
        if any(not np.allclose(x, g, rtol=1e-5, atol=1e-6) for x, g in inside):
            fail("entries already inside [-c, c] changed: value clipping acts on each entry on its own and "
                 "leaves those alone (did you rescale whole tensors?).")
        fail(f"the entries beyond ±{c:g} should become exactly ±{c:g}, keeping their sign.")
    return "your function matches gh.clip_by_value (and tf.clip_by_value), None entries included."


CLIP_CANDIDATES = (1.0, 10.0, 30.0, 50.0, 70.0, 100.0, 1000.0)


def value_clipping_run(clip_value: float, epochs: int = 10) -> tuple[History, float]:
    """The run of exercise 02.2: notebook 01's diverging setup with value clipping at ``clip_value``.

    The seed MLP on raw targets, SGD(0.01), batch 32, seed 0. Returns the history and MSE/Var(y) (inf if it diverged).
    """
    data = make_regression(seed=0)
    history = train(seed_mlp(data.n_features, seed=0), (data.x_train, data.y_train),
                    optimizer=keras.optimizers.SGD(0.01), clipper="value", threshold=clip_value,
                    epochs=epochs, batch_size=32, seed=0, progress=False)
    return history, (np.inf if history.diverged else history.final_loss / data.target_variance)


@checker
def check_largest_training_clip_value(answer: float) -> str:
    """Exercise: the largest clip value in ``CLIP_CANDIDATES`` whose 10-epoch run reaches MSE/Var(y) below 0.5."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        fail(f"answer with one number from gh.exercises.CLIP_CANDIDATES, got {answer!r}.")
    if value not in CLIP_CANDIDATES:
        fail(f"answer with one of gh.exercises.CLIP_CANDIDATES {tuple(f'{c:g}' for c in CLIP_CANDIDATES)}, "
             f"got {value:g}.")
    _, rel = value_clipping_run(value)
    if not rel < 0.5:
        outcome = "is non-finite" if not np.isfinite(rel) else f"ends at MSE/Var(y) = {rel:.3g}"
        fail(f"at c = {value:g} the run {outcome}, not below 0.5: too large. A clip value caps every "
             "weight's step at lr * c.")
    larger = [c for c in CLIP_CANDIDATES if c > value]
    next_rel = None
    if larger:
        _, next_rel = value_clipping_run(larger[0])
        if next_rel < 0.5:
            fail(f"c = {value:g} trains, but so does a larger candidate: keep going up.")
    after = "" if next_rel is None else f"; at c = {larger[0]:g} it ends at {next_rel:.3g}, no better than the mean"
    return f"c = {value:g} trains (MSE/Var(y) {rel:.3g}){after}."

