"""Checkers for the notebooks' exercises: instant feedback without the solution.

Each ``check_<name>(answer)`` runs the learner's function (or number, or
dict) against hidden cases that it computes at check time with the package
and TensorFlow, prints one verdict and returns a ``CheckResult``:

- ``Correct: ...`` when every hidden case passes;
- ``Not yet: ...`` with a hint naming the likely mistake (for example "you
  clipped each tensor on its own norm; the global norm spans all tensors");
- ``Not attempted yet: ...`` while the exercise cell still raises
  ``NotImplementedError`` (or the answer is ``None``);
- a friendly ``Not yet: your code raised ...`` when the learner's code raises.

A checker never raises, so "Run All" never stops at an exercise. As a
cell's last expression the result displays nothing more than the verdict.
The reference solutions live in ``solutions/solutions.ipynb``, not here: the
checkers know the *answers* for their hidden cases, computed from the
package (``clip_by_global_norm``, ``AGCClipper``, ``train`` ...), never the
learner-facing code.

>>> result = check_depth_for_ratio(None)
Not attempted yet: put your code or answer in this cell, in place of `raise NotImplementedError` or `None`, and run it again.
>>> result.passed
False
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from .adaptive import AGCClipper, AutoClipClipper, percentile
from .clipping import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm
from .data import make_regression
from .diagnostics import cosine_similarity, fit_growth_rate, layer_gradient_norms
from .models import deep_mlp, seed_mlp
from .training import train

NOT_ATTEMPTED = ("Not attempted yet: put your code or answer in this cell, in place of "
                 "`raise NotImplementedError` or `None`, and run it again.")


@dataclass(frozen=True)
class CheckResult:
    """What a checker decided: ``passed`` and the ``message`` it printed."""

    passed: bool
    message: str

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's result: the checker has printed the verdict already."""


class _Verdict(Exception):
    """Raised inside a checker to stop with a verdict."""

    def __init__(self, passed: bool, message: str):
        super().__init__(message)
        self.result = CheckResult(passed, message)


class _NotAttempted(Exception):
    pass


def _fail(message: str) -> None:
    raise _Verdict(False, f"Not yet: {message}")


def _checker(fn: Callable[..., str]) -> Callable[..., CheckResult]:
    """Turn a check that returns its success message (or raises a verdict) into a checker."""

    @functools.wraps(fn)
    def wrapper(answer, *args, **kwargs) -> CheckResult:
        try:
            if answer is None:
                raise _NotAttempted
            result = CheckResult(True, f"Correct: {fn(answer, *args, **kwargs)}")
        except _NotAttempted:
            result = CheckResult(False, NOT_ATTEMPTED)
        except _Verdict as verdict:
            result = verdict.result
        except Exception as err:  # noqa: BLE001 - never stop "Run All"
            result = CheckResult(False, f"Not yet: the checker could not use your answer ({_describe(err)}).")
        print(result.message)
        return result

    return wrapper


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _call(fn: Callable, *args, case: str = "", hint: str = ""):
    """Call the learner's ``fn``; turn NotImplementedError and other errors into verdicts."""
    if not callable(fn):
        _fail(f"expected a function, got {type(fn).__name__}.")
    try:
        return fn(*args)
    except NotImplementedError:
        raise _NotAttempted from None
    except Exception as err:  # noqa: BLE001
        where = f" on {case}" if case else ""
        _fail(f"your code raised {_describe(err)}{where}." + (f" Hint: {hint}" if hint else ""))


def _array(x, what: str = "your result") -> np.ndarray:
    try:
        if isinstance(x, tf.IndexedSlices):
            x = tf.convert_to_tensor(x)
        return np.asarray(x, dtype=np.float64)
    except Exception:  # noqa: BLE001
        _fail(f"{what} should be a number, an array or a tensor, got {type(x).__name__}.")


def _arrays(grads, n: int, what: str = "your function") -> list:
    """A gradient list as numpy arrays (None kept), checking its length."""
    if isinstance(grads, (tf.Tensor, np.ndarray)) or not isinstance(grads, (list, tuple)):
        _fail(f"{what} should return a list with one entry per gradient, got {type(grads).__name__}.")
    if len(grads) != n:
        _fail(f"{what} returned {len(grads)} entries for {n} gradients: return one entry per gradient "
              "(None where the gradient is None).")
    return [None if g is None else _array(g, "each gradient") for g in grads]


def _same(a: Sequence, b: Sequence, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """True when two gradient lists (numpy arrays / tensors / None) agree entry by entry."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return False
        if x is None:
            continue
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.shape != y.shape or not np.allclose(x, y, rtol=rtol, atol=atol):
            return False
    return True


def _random_grads(seed: int, shapes: Sequence[tuple[int, ...] | None], scales: Sequence[float]) -> list:
    rng = np.random.default_rng(seed)
    return [None if s is None else tf.constant(rng.standard_normal(s) * k, tf.float32)
            for s, k in zip(shapes, scales)]


# --------------------------------------------------------------------------
# 01 · Exploding gradients


@_checker
def check_growth_rate(growth_rate: Callable[[Sequence[float]], float]) -> str:
    """Exercise: ``growth_rate(norms)`` -> the per-layer factor by which ``norms`` (layer 1 first) grow towards the input."""
    rng = np.random.default_rng(1)
    for rate, layers in [(1.364, 21), (1.167, 12), (0.9, 15)]:
        norms = rate ** -np.arange(layers) * np.exp(0.02 * rng.standard_normal(layers)) * 3.0
        expected = fit_growth_rate(norms)
        got = _call(growth_rate, norms.copy(), case=f"{layers} per-layer norms")
        got = float(_array(got))
        case = f"on {layers} norms growing x{rate:g} per layer towards the input"
        if not np.isfinite(got):
            _fail(f"you returned {got} {case}.")
        if abs(got / expected - 1) < 0.02:
            continue
        if abs(got * expected - 1) < 0.03:
            _fail(f"you returned {got:.3g} {case}: the inverse. The list starts at layer 1 (next to the input), "
                  "so norms that grow towards the input *decrease* along the list.")
        if abs(got / expected ** (layers - 1) - 1) < 0.05:
            _fail(f"you returned {got:.3g} {case}: that is the growth over all {layers - 1} layer-to-layer steps; "
                  "the exercise asks for the factor per layer.")
        if abs(abs(got) / math.log(expected) - 1) < 0.05:
            _fail(f"you returned {got:.3g} {case}: a slope of log(norm) is a logarithm; the factor is exp of it.")
        _fail(f"you returned {got:.3g} {case}. Hint: a straight line through log(norm) against the layer index "
              "has a slope; the factor per layer follows from it.")
    return "your growth rate matches gh.fit_growth_rate on every hidden set of norms."


@_checker
def check_depth_for_ratio(depth_for_ratio: Callable[[float, float], int]) -> str:
    """Exercise: ``depth_for_ratio(rate, ratio)`` -> the smallest depth whose layer 1 gradient is ``ratio`` x the last layer's."""
    for rate, ratio in [(1.3642, 1e6), (1.1667, 1e3), (1.05, 50.0), (2.1213, 1e4)]:
        expected = math.ceil(math.log(ratio) / math.log(rate)) + 1
        assert rate ** (expected - 1) >= ratio > rate ** (expected - 2)
        got = _call(depth_for_ratio, rate, ratio, case=f"rate {rate:g}, ratio {ratio:g}")
        value = float(_array(got))
        case = f"for a growth of x{rate:g} per layer and a ratio of {ratio:g}"
        if value == expected:
            continue
        if value != round(value):
            _fail(f"you returned {value:.4g} {case}: a depth is a whole number of layers; round up.")
        if value == expected - 1:
            _fail(f"you returned {value:.0f} {case}: between layer 1 and layer L there are L - 1 "
                  "layer-to-layer factors, not L.")
        if rate ** (value - 1) < ratio:
            _fail(f"you returned {value:.0f} {case}: at that depth layer 1's gradient is only "
                  f"{rate ** (value - 1):.3g} times the last layer's.")
        _fail(f"you returned {value:.0f} {case}: deep enough, but not the smallest such depth.")
    return "your depths are the smallest that reach each ratio. Try yours in the parameters cell (DEPTH)."


@_checker
def check_relu_scale_factor(relu_gradient_factor: Callable[[float, int], float]) -> str:
    """Exercise: ``relu_gradient_factor(g, depth)`` -> how much larger every layer's gradient is than at He init."""
    depth, width = 6, 64
    he = layer_gradient_norms(deep_mlp(depth, width, "relu", math.sqrt(2.0), seed=3), seed=3)
    for g, d in [(2.0, depth), (1.0, depth), (2.0, 30), (3.0, 11)]:
        expected = (g / math.sqrt(2.0)) ** (d - 1)
        if d == depth:  # measured, with the package
            measured = layer_gradient_norms(deep_mlp(depth, width, "relu", g, seed=3), seed=3)
            expected = float(np.median(measured / he))
        got = float(_array(_call(relu_gradient_factor, g, d, case=f"g = {g:g}, depth {d}")))
        case = f"for g = {g:g} and depth {d}"
        if abs(got / expected - 1) < 0.01:
            continue
        if abs(got / (expected * g / math.sqrt(2.0)) - 1) < 0.01:
            _fail(f"you returned {got:.4g} {case}: one factor too many. The input itself is not scaled; "
                  "count the kernels between the first layer's output and the network's output.")
        if abs(got / g ** (d - 1) - 1) < 0.01 or abs(got / g ** d - 1) < 0.01:
            _fail(f"you returned {got:.4g} {case}: that compares with g = 1, not with He initialisation (g = sqrt 2).")
        _fail(f"you returned {got:.4g} {case}, measured {expected:.4g}. Hint: ReLU is positively homogeneous, "
              "so scaling each kernel by a factor scales the output, and every gradient, by a power of it.")
    return "your factor matches the measured ratio of deep ReLU networks' gradients."


# --------------------------------------------------------------------------
# 02 · Value clipping


@_checker
def check_clip_by_value(my_clip_by_value: Callable[[list, float], list]) -> str:
    """Exercise: ``my_clip_by_value(grads, clip_value)`` over a list that may hold ``None``."""
    plain = _random_grads(4, [(3, 4), (5,), (2, 2)], [2.0, 0.5, 3.0])
    with_none = _random_grads(5, [(4, 3), None, (6,), None], [1.5, 1.0, 4.0, 1.0])
    for grads, c, label in [(plain, 1.0, "three tensors"), (plain, 0.5, "three tensors"),
                            (with_none, 1.0, "a list with None entries")]:
        out = _call(my_clip_by_value, list(grads), c, case=label,
                    hint="a variable the loss does not use has the gradient None: pass None through."
                    if "None" in label else "")
        got = _arrays(out, len(grads))
        expected = [None if g is None else g.numpy() for g in clip_by_value(grads, c)]
        if _same(got, expected):
            continue
        if any((x is None) != (y is None) for x, y in zip(got, expected)):
            _fail("keep None where the gradient is None, and a clipped tensor everywhere else.")
        pairs = [(x, y, g.numpy()) for x, y, g in zip(got, expected, grads) if g is not None]
        if any(x.shape != y.shape for x, y, _ in pairs):
            _fail("each clipped gradient must have the shape of its gradient.")
        if any(np.any(x < -c - 1e-6) for x, _, _ in pairs):
            _fail(f"some entries are still below -{c:g}: clip both sides, into [-c, c].")
        if any(np.any(x > c + 1e-6) for x, _, _ in pairs):
            _fail(f"some entries are still above {c:g}: clip both sides, into [-c, c].")
        inside = [(x[np.abs(g) <= c], g[np.abs(g) <= c]) for x, _, g in pairs]
        if any(not np.allclose(x, g, rtol=1e-5, atol=1e-6) for x, g in inside):
            _fail("entries already inside [-c, c] changed: value clipping acts on each entry on its own and "
                  "leaves those alone (did you rescale whole tensors?).")
        _fail(f"the entries beyond ±{c:g} should become exactly ±{c:g}, keeping their sign.")
    return "your function matches gh.clip_by_value (and tf.clip_by_value), None entries included."


CLIP_CANDIDATES = (1.0, 10.0, 30.0, 50.0, 70.0, 100.0, 1000.0)


def value_clipping_run(clip_value: float, epochs: int = 10):
    """The run of exercise 02.2: notebook 01's diverging setup (seed MLP, raw targets, SGD(0.01), batch 32, seed 0) with value clipping."""
    data = make_regression(seed=0)
    history = train(seed_mlp(data.n_features, seed=0), (data.x_train, data.y_train),
                    optimizer=keras.optimizers.SGD(0.01), clipper="value", threshold=clip_value,
                    epochs=epochs, batch_size=32, seed=0, progress=False)
    return history, (np.inf if history.diverged else history.final_loss / data.target_variance)


@_checker
def check_largest_training_clip_value(answer: float) -> str:
    """Exercise: the largest clip value in ``CLIP_CANDIDATES`` whose 10-epoch run reaches MSE/Var(y) below 0.5."""
    try:
        value = float(answer)
    except (TypeError, ValueError):
        _fail(f"answer with one number from gh.exercises.CLIP_CANDIDATES, got {answer!r}.")
    if value not in CLIP_CANDIDATES:
        _fail(f"answer with one of gh.exercises.CLIP_CANDIDATES {tuple(f'{c:g}' for c in CLIP_CANDIDATES)}, "
              f"got {value:g}.")
    _, rel = value_clipping_run(value)
    if not rel < 0.5:
        outcome = "is non-finite" if not np.isfinite(rel) else f"ends at MSE/Var(y) = {rel:.3g}"
        _fail(f"at c = {value:g} the run {outcome}, not below 0.5: too large. A clip value caps every "
              "weight's step at lr * c.")
    larger = [c for c in CLIP_CANDIDATES if c > value]
    next_rel = None
    if larger:
        _, next_rel = value_clipping_run(larger[0])
        if next_rel < 0.5:
            _fail(f"c = {value:g} trains, but so does a larger candidate: keep going up.")
    after = "" if next_rel is None else f"; at c = {larger[0]:g} it ends at {next_rel:.3g}, no better than the mean"
    return f"c = {value:g} trains (MSE/Var(y) {rel:.3g}){after}."


# --------------------------------------------------------------------------
# 03 · Norm clipping


@_checker
def check_clip_by_global_norm(my_clip_by_global_norm: Callable[[list, float], tuple]) -> str:
    """Exercise: ``my_clip_by_global_norm(grads, clip_norm)`` -> ``(clipped, global_norm_before)`` like ``tf.clip_by_global_norm``."""
    big = _random_grads(6, [(4, 3), (3,), (3, 1), (1,)], [3.0, 0.2, 2.0, 0.05])
    small = _random_grads(7, [(2, 2), (2,)], [0.1, 0.1])
    with_none = _random_grads(8, [(3, 2), None, (2,)], [2.0, 1.0, 1.0])
    for grads, c, label in [(big, 2.0, "tensors of different norms"), (small, 5.0, "gradients already short"),
                            (with_none, 1.0, "a list with a None entry")]:
        out = _call(my_clip_by_global_norm, list(grads), c, case=label,
                    hint="pass None entries through and leave them out of the norm." if "None" in label else "")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            _fail("return a pair (clipped_list, global_norm_before_clipping), as tf.clip_by_global_norm does.")
        clipped, norm = out
        got = _arrays(clipped, len(grads))
        expected, expected_norm = tf.clip_by_global_norm(grads, c)
        expected = [None if g is None else g.numpy() for g in expected]
        expected_norm = float(expected_norm)
        norm = float(_array(norm, "the norm you returned"))
        values = [g.numpy() for g in grads if g is not None]
        if not np.isclose(norm, expected_norm, rtol=1e-5):
            if np.isclose(norm, min(expected_norm, c), rtol=1e-5):
                _fail("return the global norm *before* clipping (it is what you log and compare with the threshold).")
            if np.isclose(norm, sum(np.linalg.norm(v) for v in values), rtol=1e-5):
                _fail("the global norm is sqrt(sum_k ||g_k||^2), not the sum of the tensors' norms.")
            _fail(f"on {label} the global norm should be {expected_norm:.4g}, you returned {norm:.4g}. "
                  "It spans all tensors, as if they were one long vector.")
        if _same(got, expected):
            continue
        per_tensor = [None if g is None else g.numpy() for g in clip_by_norm(grads, c)]
        if _same(got, per_tensor):
            _fail("you clipped each tensor on its own norm; the global norm spans all tensors, and every "
                  "tensor gets the same scale factor.")
        if expected_norm <= c:
            _fail(f"on {label} the global norm {expected_norm:.3g} is already at most {c:g}: leave the "
                  "gradients unchanged.")
        _fail(f"on {label} the clipped tensors differ from tf.clip_by_global_norm. Hint: after clipping, "
              "the global norm should be exactly clip_norm.")
    return "your function matches tf.clip_by_global_norm: clipped tensors and the norm before clipping."


DIRECTION_METHODS = ("value", "norm", "global_norm")


@_checker
def check_keeps_direction(prediction: dict) -> str:
    """Exercise: predict, per method in ``DIRECTION_METHODS``, whether clipping keeps the gradient's direction."""
    if not isinstance(prediction, dict):
        _fail("answer with a dict such as {'value': True, 'norm': True, 'global_norm': True}.")
    if all(value is None for value in prediction.values()):
        raise _NotAttempted
    missing = [m for m in DIRECTION_METHODS if m not in prediction]
    if missing:
        _fail(f"give a True/False prediction for every method; missing: {', '.join(missing)}.")
    if any(not isinstance(prediction[m], (bool, np.bool_)) for m in DIRECTION_METHODS):
        _fail("each prediction must be True or False.")
    grads = _random_grads(9, [(5, 4), (4,), (4, 1), (1,)], [3.0, 0.5, 2.0, 0.1])
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
        _fail(f"{len(wrong)} of {len(DIRECTION_METHODS)} predictions disagree with the measured cosine. "
              + " ".join(f"'{m}': {hints[m]}" for m in wrong))
    cosines = ", ".join(f"{m} {cosine_similarity(grads, clipped[m]):.3f}" for m in DIRECTION_METHODS)
    return f"measured cosines between the gradient and its clipped version: {cosines}."


@_checker
def check_rescaled_threshold(rescale_threshold: Callable[[float, float, float], float]) -> str:
    """Exercise: ``rescale_threshold(c, warmup_lr, lr)`` -> the threshold at ``lr`` with the warm-up's step cap."""
    for c, warmup_lr, lr in [(150.0, 3e-4, 0.01), (5.0, 0.1, 0.01), (1.0, 0.01, 0.01)]:
        expected = c * warmup_lr / lr
        got = float(_array(_call(rescale_threshold, c, warmup_lr, lr, case=f"c = {c:g}")))
        if np.isclose(got, expected, rtol=1e-6):
            continue
        case = f"for c = {c:g} found at lr {warmup_lr:g}, training at lr {lr:g}"
        if np.isclose(got, c * lr / warmup_lr, rtol=1e-6):
            _fail(f"you returned {got:.4g} {case}: the wrong way round. A larger learning rate makes every "
                  "clipped step longer, so it needs a smaller threshold.")
        _fail(f"you returned {got:.4g} {case}. Hint: an SGD step clipped at c has length lr * c; keep that length.")
    return "the step cap lr * c stays the same at the new learning rate."


# --------------------------------------------------------------------------
# 04 · The training loop


def _step_outcomes(x, y, lr: float, clip: float, seed: int = 1) -> dict[str, list[np.ndarray]]:
    """The weights after one SGD step done right and in the usual wrong ways."""
    model = seed_mlp(x.shape[1], seed=seed)
    w0 = [v.numpy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    variants = {"right": clip_by_global_norm(grads, clip)[0], "unclipped": grads,
                "per_tensor": clip_by_norm(grads, clip), "value": clip_by_value(grads, clip)}
    out = {name: [w - lr * g.numpy() for w, g in zip(w0, gs)] for name, gs in variants.items()}
    out["unchanged"] = w0
    out["loss"] = float(loss)
    return out


def _step_data(seed: int, scale: float, n_inputs: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, n_inputs)).astype(np.float32)
    return x, (scale * rng.standard_normal((16, 1))).astype(np.float32)


@_checker
def check_train_step(train_step: Callable) -> str:
    """Exercise: ``train_step(model, optimizer, x, y, clip_norm)``: one step with global-norm clipping, returns the loss."""
    for scale, label in [(100.0, "a batch with large targets"), (0.01, "a batch whose gradient is short")]:
        x, y = _step_data(11, scale)
        lr, clip = 0.01, 1.0
        outcomes = _step_outcomes(x, y, lr, clip)
        model = seed_mlp(x.shape[1], seed=1)
        loss = _call(train_step, model, keras.optimizers.SGD(lr), x, y, clip, case=label)
        got = [v.numpy() for v in model.trainable_variables]
        if _same(got, outcomes["right"], rtol=1e-4, atol=1e-6):
            if loss is None or not np.isclose(float(_array(loss, "the loss")), outcomes["loss"], rtol=1e-4):
                _fail("the weights are right; now return the loss of the batch, computed before the update.")
            continue
        if _same(got, outcomes["unchanged"]):
            _fail("the weights did not change: apply the clipped gradients with optimizer.apply(grads, variables).")
        if _same(got, outcomes["unclipped"], rtol=1e-4, atol=1e-6):
            _fail(f"on {label} the optimizer applied the unclipped gradient: clip between tape.gradient and "
                  "optimizer.apply (clipping after the update changes nothing).")
        if _same(got, outcomes["per_tensor"], rtol=1e-4, atol=1e-6):
            _fail("you clipped each tensor on its own norm; the global norm spans all tensors.")
        if _same(got, outcomes["value"], rtol=1e-4, atol=1e-6):
            _fail("you clipped each entry (value clipping); clip the global norm of all gradients together.")
        _fail(f"on {label} the weights after your step differ from one SGD step on the globally clipped "
              "gradient. Order: loss inside the tape, tape.gradient, clip, optimizer.apply.")
    return "forward pass and loss in the tape, gradient, global clip, apply: the weights match."


@_checker
def check_keras_optimizer(make_clipping_sgd: Callable[[float, float], keras.optimizers.Optimizer]) -> str:
    """Exercise: ``make_clipping_sgd(lr, threshold)`` -> a Keras SGD that clips like ``gh.train(clipper="global_norm")``."""
    lr, clip = 0.05, 1.5
    optimizer = _call(make_clipping_sgd, lr, clip)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        _fail(f"return a Keras optimizer, got {type(optimizer).__name__}.")
    if getattr(optimizer, "clipnorm", None):
        _fail("clipnorm clips each tensor on its own (per-tensor); gh.train's 'global_norm' spans all tensors.")
    if getattr(optimizer, "clipvalue", None):
        _fail("clipvalue clips each entry; gh.train's 'global_norm' scales all gradients by one factor.")
    if not getattr(optimizer, "global_clipnorm", None):
        _fail("this optimizer does not clip: Keras optimizers take a clipping argument.")
    x, y = _step_data(12, 100.0)
    outcomes = _step_outcomes(x, y, lr, clip)
    model = seed_mlp(x.shape[1], seed=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
    optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
    if not _same([v.numpy() for v in model.trainable_variables], outcomes["right"], rtol=1e-4, atol=1e-6):
        _fail(f"one step of your optimizer does not match SGD({lr:g}) on the gradient clipped at {clip:g}: "
              "check the learning rate and the threshold you pass.")
    return f"{type(optimizer).__name__}(global_clipnorm={optimizer.global_clipnorm:g}) clips the global norm."


# --------------------------------------------------------------------------
# 05 · Adaptive clipping


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


@_checker
def check_agc_kernel(agc_clip_kernel: Callable) -> str:
    """Exercise: ``agc_clip_kernel(grad, weight, lam, eps)``: AGC's unit-wise rule for a Dense kernel (in, out)."""
    rng = np.random.default_rng(13)
    w = rng.standard_normal((6, 5)).astype(np.float32) * 0.4
    w[:, 2] = 0.0  # a unit with zero weights: only the eps floor lets it move
    g = rng.standard_normal((6, 5)).astype(np.float32) * np.array([0.01, 0.5, 0.2, 0.001, 2.0], np.float32)
    for lam, eps in [(0.1, 1e-3), (0.5, 1e-2)]:
        expected = AGCClipper(lam, eps=eps, exclude_final_layer=False).clip(
            [tf.constant(g)], [tf.Variable(w)]).grads[0].numpy()
        out = _call(agc_clip_kernel, g.copy(), w.copy(), lam, eps, case=f"lambda = {lam:g}")
        got = _array(out)
        if got.shape != g.shape:
            _fail(f"return the clipped gradient with the kernel's shape {g.shape}, got {got.shape}.")
        if np.allclose(got, expected, rtol=1e-4, atol=1e-7):
            continue
        variants = _agc_variants(g.astype(np.float64), w.astype(np.float64), lam, eps)
        if np.allclose(got, variants["rows"], rtol=1e-4, atol=1e-7):
            _fail("a unit of a Dense kernel (in, out) is a column: its fan-in weights. Take the norms over "
                  "axis 0, one per output unit.")
        if np.allclose(got, variants["tensor"], rtol=1e-4, atol=1e-7):
            _fail("AGC is unit-wise: one ratio ||G_i|| / ||W_i|| per output unit, not one for the whole tensor.")
        if np.allclose(got, variants["always"], rtol=1e-4, atol=1e-7):
            _fail("only units whose ratio exceeds lambda change; the others keep their gradient.")
        if not np.allclose(got[:, 2], expected[:, 2], rtol=1e-4, atol=1e-7) and np.allclose(
                np.delete(got, 2, axis=1), np.delete(expected, 2, axis=1), rtol=1e-4, atol=1e-7):
            _fail("the unit whose weights are all zero is wrong: floor the weight norm at eps, "
                  "max(||W_i||, eps), or that unit could never move.")
        _fail(f"for lambda = {lam:g} your clipped kernel differs from AGC's. Hint: a unit is clipped to "
              "lambda * max(||W_i||, eps) in norm, keeping its direction.")
    return "your kernel matches gh.AGCClipper, the zero-weight unit included."


@_checker
def check_autoclip_thresholds(autoclip_thresholds: Callable) -> str:
    """Exercise: ``autoclip_thresholds(norms, p, warmup_steps, warmup_threshold)`` -> AutoClip's threshold at every step."""
    rng = np.random.default_rng(14)
    norms = np.exp(rng.standard_normal(30)).astype(np.float32) * 10.0
    for p, warmup in [(10.0, 5), (50.0, 0)]:
        threshold = 3.0
        expected = np.array([threshold if k < warmup else float(percentile(tf.constant(norms[:k + 1]), p))
                             for k in range(len(norms))])
        clipper = AutoClipClipper(threshold, p, warmup_steps=warmup)  # the package's own clipper agrees
        after = [float(global_norm(clipper.clip([tf.constant([n])]).grads)) for n in norms]
        assert np.allclose(after, np.minimum(norms, expected), rtol=1e-5)
        got = _array(_call(autoclip_thresholds, norms.copy(), p, warmup, threshold, case=f"p = {p:g}"))
        if got.shape != expected.shape:
            _fail(f"return one threshold per step: {len(norms)} values for {len(norms)} norms, got shape {got.shape}.")
        if np.allclose(got, expected, rtol=1e-4):
            continue
        shifted = np.array([threshold if k < warmup else np.percentile(norms[:max(k, 1)], p) for k in range(len(norms))])
        if np.allclose(got, shifted, rtol=1e-4):
            _fail("the current step's norm joins the history before the percentile is taken.")
        if np.allclose(got[warmup:], expected[warmup:], rtol=1e-4):
            _fail(f"the first {warmup} steps (the warm-up) use the fixed warm-up threshold.")
        if warmup and not np.allclose(got[:warmup], threshold):
            _fail(f"the first {warmup} steps (the warm-up) use the fixed warm-up threshold.")
        if np.allclose(got[warmup:], np.percentile(norms, p), rtol=1e-4):
            _fail("at step k only the norms seen so far (steps 0..k) are known.")
        if np.allclose(got[warmup:], [np.percentile(norms[:k + 1], p / 100) for k in range(warmup, len(norms))],
                       rtol=1e-4):
            _fail("p is a percentile between 0 and 100, as np.percentile expects (np.quantile takes 0 to 1).")
        _fail(f"with p = {p:g} and a warm-up of {warmup} steps your thresholds differ from AutoClip's. "
              "Hint: the percentile uses linear interpolation, as np.percentile's default.")
    return "your thresholds match gh.AutoClipClipper step by step."


# --------------------------------------------------------------------------
# 06 · Clipping at scale


@_checker
def check_unscaled_train_step(train_step: Callable) -> str:
    """Exercise: fix ``train_step(model, optimizer, x, y, threshold)`` under a ``LossScaleOptimizer`` (unscale, then clip)."""
    lr, threshold, scale = 0.05, 1.0, 1024.0
    for target_scale, label in [(30.0, "a batch whose true gradient norm is above the threshold"),
                                (0.02, "a batch whose true gradient norm is below the threshold")]:
        x, y = _step_data(15, target_scale)
        outcomes = _step_outcomes(x, y, lr, threshold, seed=2)
        true_norm = math.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in
                                  zip(outcomes["unclipped"], outcomes["unchanged"]))) / lr
        model = seed_mlp(x.shape[1], seed=2)
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(lr), initial_scale=scale)
        optimizer.build(model.trainable_variables)  # creates dynamic_scale, as in a training loop
        _call(train_step, model, optimizer, x, y, threshold, case=label)
        got = [v.numpy() for v in model.trainable_variables]
        if _same(got, outcomes["right"], rtol=1e-3, atol=1e-6):
            continue
        w0 = outcomes["unchanged"]
        step = [a - b for a, b in zip(got, w0)]
        right = [a - b for a, b in zip(outcomes["right"], w0)]
        if _same(got, w0, rtol=0, atol=0):
            _fail("the weights did not change: apply the gradients with optimizer.apply(grads, variables).")
        ratio = float(np.linalg.norm(np.concatenate([s.ravel() for s in step]))
                      / np.linalg.norm(np.concatenate([r.ravel() for r in right])))
        if ratio < 0.01 and true_norm > threshold:
            _fail(f"on {label} your step is {1 / ratio:.4g} times too short: the clip saw gradients still "
                  "multiplied by the loss scale (or LossScaleOptimizer.apply divided by it a second time). "
                  "Divide by optimizer.dynamic_scale before clipping; apply divides by it again, so multiply "
                  "back (or use gh.unscale_gradients and the inner optimizer).")
        if ratio < 0.01:
            _fail(f"on {label} your step is {1 / ratio:.4g} times too short. If you unscaled before clipping, "
                  "remember that LossScaleOptimizer.apply divides by the scale itself: multiply back before apply.")
        if ratio > 100:
            _fail(f"on {label} your step is {ratio:.4g} times too long: the update still carries the loss scale.")
        if _same(got, outcomes["unclipped"], rtol=1e-3, atol=1e-6):
            _fail(f"on {label} the step was not clipped: clip the unscaled gradients at the threshold.")
        _fail(f"on {label} your step differs from SGD on the true gradient clipped at {threshold:g}.")
    return "unscale, then clip: your step equals the float32 step clipped at the threshold, for any loss scale."


@_checker
def check_accumulate_then_clip(accumulated_update: Callable) -> str:
    """Exercise: ``accumulated_update(micro_grads, threshold)`` -> the clipped large-batch gradient from k micro-batch gradients."""
    x, y = _step_data(16, 50.0)
    model = seed_mlp(x.shape[1], seed=3)
    full = _gradients(model, x, y)
    for k, threshold in [(4, 1.0), (2, 1e6)]:
        size = len(x) // k
        micro = [_gradients(model, x[i * size:(i + 1) * size], y[i * size:(i + 1) * size]) for i in range(k)]
        mean = [tf.add_n(list(gs)) / k for gs in zip(*micro)]
        assert _same(mean, full, rtol=1e-4, atol=1e-5)  # the micro-batches average to the large batch
        expected = [g.numpy() for g in clip_by_global_norm(full, threshold)[0]]
        out = _call(accumulated_update, [list(m) for m in micro], threshold, case=f"{k} micro-batches")
        got = _arrays(out, len(full))
        if _same(got, expected, rtol=1e-4, atol=1e-6):
            continue
        if _same(got, [g * k for g in expected], rtol=1e-4, atol=1e-6) or _same(
                got, [g.numpy() for g in clip_by_global_norm([m * k for m in mean], threshold)[0]],
                rtol=1e-4, atol=1e-6):
            _fail(f"with {k} micro-batches your update is {k} times the large-batch one: each micro-batch "
                  "gradient is of its own mean loss, so the large batch's is their average.")
        each = [tf.add_n(list(gs)) / k for gs in zip(*(clip_by_global_norm(m, threshold)[0] for m in micro))]
        if _same(got, each, rtol=1e-4, atol=1e-6) or _same(got, [g * k for g in each], rtol=1e-4, atol=1e-6):
            _fail("you clipped each micro-batch before adding them up: the step shrinks and turns. "
                  "Accumulate first, clip once.")
        if _same(got, [g.numpy() for g in clip_by_norm(mean, threshold)], rtol=1e-4, atol=1e-6):
            _fail("you clipped each tensor on its own norm; the global norm spans all tensors.")
        _fail(f"with {k} micro-batches your update differs from the large-batch gradient clipped once.")
    return "accumulate, then clip once: your update equals the large-batch step."


def _gradients(model, x, y) -> list[tf.Tensor]:
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
    return tape.gradient(loss, model.trainable_variables)


# --------------------------------------------------------------------------
# 07 · Recurrent networks (Pascanu's one-unit RNN)


def _rnn_starts() -> tuple[np.ndarray, np.ndarray]:
    """Starts on both sides of the cliff and on its wall, where the gradient is huge."""
    from . import pascanu

    w = np.array([5.0, 5.0, 6.0, 6.5, 4.5, 5.0], np.float32)
    wall = pascanu.cliff_bias(w)
    b = np.array([wall[0] - 1e-4, -1.5, wall[2], -3.8, -2.0, wall[5] + 3e-4], np.float32)
    return w, b


@_checker
def check_clipped_rnn_step(clipped_rnn_step: Callable) -> str:
    """Exercise: ``clipped_rnn_step(w, b, lr, threshold)``: one step of Pascanu's Algorithm 1 for every run (arrays)."""
    from . import pascanu

    w, b = _rnn_starts()
    _, gw, gb = pascanu.loss_and_gradient(w, b)
    gw, gb = gw.numpy().astype(np.float64), gb.numpy().astype(np.float64)
    norm = np.hypot(gw, gb)
    for lr, threshold in [(0.5, 1.0), (0.1, 0.05)]:
        assert np.any(norm > threshold) and np.any(norm < threshold)
        ref = pascanu.descend(w, b, lr=lr, steps=1, threshold=threshold)
        expected = np.stack([ref.w[1], ref.b[1]])
        out = _call(clipped_rnn_step, w.copy(), b.copy(), lr, threshold, case=f"lr {lr:g}, threshold {threshold:g}")
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            _fail("return the pair (new_w, new_b), one entry per run in each.")
        got = np.stack([_array(out[0]), _array(out[1])]) if np.shape(out[0]) == np.shape(w) == np.shape(out[1]) else None
        if got is None:
            _fail(f"return new_w and new_b with the shape of w, {w.shape}: one entry per run.")
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
        _fail(hints[match] if match else f"with lr {lr:g} and threshold {threshold:g} your new (w, b) differ from "
              "Algorithm 1. Hint: gh.pascanu.loss_and_gradient gives dE/dw and dE/db for every run at once.")
    return "your step is Pascanu's Algorithm 1: each run's gradient clipped on its own norm."


@_checker
def check_rnn_step_bound(longest_clipped_step: Callable[[float, float], float]) -> str:
    """Exercise: ``longest_clipped_step(lr, threshold)``: the longest (w, b) step clipped gradient descent can make."""
    from . import pascanu

    w0, b0 = pascanu.random_starts(50, seed=7)
    for lr, threshold in [(0.5, 1.0), (0.2, 3.0)]:
        runs = pascanu.descend(w0, b0, lr=lr, steps=60, threshold=threshold)
        longest = float(runs.step_lengths.max())
        got = float(_array(_call(longest_clipped_step, lr, threshold, case=f"lr {lr:g}, threshold {threshold:g}")))
        bound = lr * threshold
        assert longest <= bound * (1 + 1e-5) and runs.clipped.any()
        if np.isclose(got, bound, rtol=1e-6):
            continue
        case = f"for lr {lr:g} and threshold {threshold:g} (measured longest step {longest:.4g})"
        if got < longest * (1 - 1e-4):
            _fail(f"you returned {got:.4g} {case}: some clipped runs made longer steps than that.")
        if np.isclose(got, threshold):
            _fail(f"you returned {got:.4g} {case}: the threshold bounds the gradient; the step is lr times it.")
        _fail(f"you returned {got:.4g} {case}: a bound, but not the tightest one. Every clipped step has the "
              "same length.")
    return "a clipped step is never longer than lr * threshold, and every clipped step has exactly that length."
