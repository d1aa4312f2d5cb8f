"""The exercise checkers: they accept the reference solutions, reject typical mistakes with
the right hint, and meet unattempted or crashing code with a friendly message, never an exception.

The reference solutions are read from solutions/solutions.ipynb (its code cells run here
in one namespace), so the notebook and these tests cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf

import gradclip_helpers as gh
from gradclip_helpers import exercises as ex
from gradclip_helpers.exercises import nb01_exploding_gradients as ex01
from gradclip_helpers.exercises import nb05_adaptive_clipping as ex05
from gradclip_helpers.exercises import nb06_clipping_at_scale as ex06
from gradclip_helpers.exercises import nb07_recurrent_networks as ex07

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions" / "solutions.ipynb"

# checker name -> the name of the reference solution defined in the solutions notebook
REFERENCES = {
    "check_growth_rate": "growth_rate",
    "check_depth_for_ratio": "depth_for_ratio",
    "check_relu_scale_factor": "relu_gradient_factor",
    "check_clip_by_value": "my_clip_by_value",
    "check_largest_training_clip_value": "LARGEST_TRAINING_CLIP",
    "check_clip_by_global_norm": "my_clip_by_global_norm",
    "check_keeps_direction": "KEEPS_DIRECTION",
    "check_rescaled_threshold": "rescale_threshold",
    "check_train_step": "train_step_04",
    "check_keras_optimizer": "make_clipping_sgd",
    "check_agc_kernel": "agc_clip_kernel",
    "check_autoclip_thresholds": "autoclip_thresholds",
    "check_unscaled_train_step": "train_step_06",
    "check_accumulate_then_clip": "accumulated_update",
    "check_clipped_rnn_step": "clipped_rnn_step",
    "check_rnn_step_bound": "longest_clipped_step",
    "check_spike_steps": "my_spike_steps",
    "check_threshold_for_clip_rate": "threshold_for_clip_rate",
    "check_adam_second_moment": "adam_v",
}
CHECKERS = sorted(name for name in dir(ex) if name.startswith("check_"))
FUNCTION_CHECKERS = [name for name in CHECKERS if REFERENCES.get(name, "x")[0].islower()]


@pytest.fixture(scope="module")
def solutions():
    """The namespace of the solutions notebook after running all its code cells."""
    nb = nbformat.read(SOLUTIONS, as_version=4)
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            source = cell.source
            # the two train steps share a name in the notebook; keep both
            exec(source, namespace)  # noqa: S102
            if "def train_step" in source:
                key = "train_step_06" if "scale_loss" in source else "train_step_04"
                namespace[key] = namespace["train_step"]
    return namespace


def test_every_checker_has_a_reference():
    assert set(CHECKERS) == set(REFERENCES), set(CHECKERS) ^ set(REFERENCES)


@pytest.mark.parametrize("name", CHECKERS)
def test_reference_solution_is_accepted(name, solutions, capsys):
    result = getattr(ex, name)(solutions[REFERENCES[name]])
    printed = capsys.readouterr().out
    assert result.passed, result.message
    assert result.message.startswith("Correct: ") and printed.strip() == result.message


@pytest.mark.parametrize("name", FUNCTION_CHECKERS)
def test_placeholder_is_not_attempted(name, capsys):
    def placeholder(*args):
        raise NotImplementedError

    result = getattr(ex, name)(placeholder)
    assert not result.passed and result.message == ex.NOT_ATTEMPTED
    assert capsys.readouterr().out.strip() == ex.NOT_ATTEMPTED


@pytest.mark.parametrize("name", CHECKERS)
def test_none_is_not_attempted(name):
    assert getattr(ex, name)(None).message == ex.NOT_ATTEMPTED


@pytest.mark.parametrize("name", FUNCTION_CHECKERS)
def test_raising_code_gets_a_friendly_message(name):
    def broken(*args):
        return {}["missing"]

    result = getattr(ex, name)(broken)
    assert not result.passed and "your code raised KeyError" in result.message


@pytest.mark.parametrize("name", FUNCTION_CHECKERS)
def test_nonsense_is_rejected_without_an_exception(name):
    for answer in (lambda *args: "text", lambda *args: [1.0], 42):
        result = getattr(ex, name)(answer)
        assert not result.passed and result.message.startswith("Not yet: ")


def test_check_result_repr_is_short():
    assert repr(ex.CheckResult(True, "Correct: x")) == "CheckResult(passed=True)"


# ---------------------------------------------------------------- typical wrong answers


def _rejected(checker, answer, *hints):
    result = checker(answer)
    assert not result.passed, result.message
    for hint in hints:
        assert hint in result.message, result.message
    return result


def test_growth_rate_mistakes():
    fit = lambda norms: np.polyfit(np.arange(len(norms)), np.log(norms), 1)[0]  # noqa: E731
    _rejected(ex.check_growth_rate, lambda n: float(np.exp(fit(n))), "the inverse")
    _rejected(ex.check_growth_rate, lambda n: n[0] / n[-1], "per layer")
    _rejected(ex.check_growth_rate, lambda n: -fit(n), "exp of it")


def test_depth_mistakes():
    _rejected(ex.check_depth_for_ratio, lambda r, q: int(np.ceil(np.log(q) / np.log(r))), "L - 1")
    _rejected(ex.check_depth_for_ratio, lambda r, q: np.log(q) / np.log(r) + 1, "whole number")
    _rejected(ex.check_depth_for_ratio, lambda r, q: int(np.ceil(np.log(q) / np.log(r))) + 5, "not the smallest")


def test_relu_factor_mistakes():
    _rejected(ex.check_relu_scale_factor, lambda g, d: (g / np.sqrt(2)) ** d, "one factor too many")
    _rejected(ex.check_relu_scale_factor, lambda g, d: g ** (d - 1), "He initialisation")


def test_clip_by_value_mistakes():
    _rejected(ex.check_clip_by_value, lambda gs, c: [tf.clip_by_value(g, -c, c) for g in gs], "None")
    _rejected(ex.check_clip_by_value, lambda gs, c: [tf.clip_by_value(g, -c, c) for g in gs if g is not None],
              "one entry per gradient")
    _rejected(ex.check_clip_by_value, lambda gs, c: [None if g is None else tf.minimum(g, c) for g in gs],
              "below -")
    _rejected(ex.check_clip_by_value, lambda gs, c: [None if g is None else tf.clip_by_norm(g, c) for g in gs],
              "inside [-c, c] changed")


def test_largest_clip_value_mistakes():
    _rejected(ex.check_largest_training_clip_value, 1000.0, "too large")
    _rejected(ex.check_largest_training_clip_value, 30.0, "keep going up")
    _rejected(ex.check_largest_training_clip_value, 42.0, "CLIP_CANDIDATES")


def test_clip_by_global_norm_mistakes():
    norm = lambda gs: tf.sqrt(sum(tf.reduce_sum(g * g) for g in gs if g is not None))  # noqa: E731
    _rejected(ex.check_clip_by_global_norm, lambda gs, c: (gh.clip_by_norm(gs, c), norm(gs)),
              "you clipped each tensor on its own norm; the global norm spans all tensors")
    _rejected(ex.check_clip_by_global_norm, lambda gs, c: ([None if g is None else g * c / norm(gs) for g in gs],
                                                           norm(gs)), "already at most")
    _rejected(ex.check_clip_by_global_norm, lambda gs, c: (tf.clip_by_global_norm(gs, c)[0],
                                                           tf.minimum(norm(gs), c)), "*before* clipping")
    _rejected(ex.check_clip_by_global_norm, lambda gs, c: tf.clip_by_global_norm(gs, c)[0], "return a pair")
    _rejected(ex.check_clip_by_global_norm, lambda gs, c: tf.clip_by_global_norm(gs, c)
              if all(g is not None for g in gs) else 1 / 0, "None")


def test_keeps_direction_mistakes():
    result = _rejected(ex.check_keeps_direction, {"value": False, "norm": True, "global_norm": True},
                       "1 of 3", "'norm'")
    assert "'value'" not in result.message and "True" not in result.message  # a hint, not the answer
    _rejected(ex.check_keeps_direction, {"value": True, "norm": True}, "missing: global_norm")
    _rejected(ex.check_keeps_direction, ["global_norm"], "dict")


def test_rescaled_threshold_mistakes():
    _rejected(ex.check_rescaled_threshold, lambda c, w, lr: c * lr / w, "wrong way round")
    _rejected(ex.check_rescaled_threshold, lambda c, w, lr: c, "lr * c")


def _step(clip=None, apply=True):
    def train_step(model, optimizer, x, y, clip_norm):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        if clip == "after":
            optimizer.apply(grads, model.trainable_variables)
            tf.clip_by_global_norm(grads, clip_norm)
            return loss
        if clip is not None:
            grads = clip(grads, clip_norm)
        if apply:
            optimizer.apply(grads, model.trainable_variables)
        return loss
    return train_step


def test_train_step_mistakes():
    _rejected(ex.check_train_step, _step("after"), "unclipped gradient")
    _rejected(ex.check_train_step, _step(gh.clip_by_norm), "each tensor on its own norm")
    _rejected(ex.check_train_step, _step(gh.clip_by_value), "value clipping")
    _rejected(ex.check_train_step, _step(lambda g, c: gh.clip_by_global_norm(g, c)[0], apply=False), "did not change")


def test_keras_optimizer_mistakes():
    _rejected(ex.check_keras_optimizer, lambda lr, c: keras.optimizers.SGD(lr, clipnorm=c), "per-tensor")
    _rejected(ex.check_keras_optimizer, lambda lr, c: keras.optimizers.SGD(lr, clipvalue=c), "each entry")
    _rejected(ex.check_keras_optimizer, lambda lr, c: keras.optimizers.SGD(lr), "does not clip")
    _rejected(ex.check_keras_optimizer, lambda lr, c: keras.optimizers.SGD(0.1, global_clipnorm=c), "learning rate")
    _rejected(ex.check_keras_optimizer, lambda lr, c: "SGD", "Keras optimizer")


def _agc(axis=0, eps_floor=True, only_over=True):
    def agc(grad, weight, lam, eps):
        w = np.linalg.norm(weight, axis=axis, keepdims=True)
        w = np.maximum(w, eps) if eps_floor else w
        g = np.linalg.norm(grad, axis=axis, keepdims=True)
        clipped = grad * lam * w / np.maximum(g, 1e-6)
        return np.where(g > lam * w, clipped, grad) if only_over else clipped
    return agc


def test_agc_mistakes():
    _rejected(ex.check_agc_kernel, _agc(axis=1), "column", "axis 0")
    _rejected(ex.check_agc_kernel, _agc(axis=None), "unit-wise")
    _rejected(ex.check_agc_kernel, _agc(eps_floor=False), "eps")
    _rejected(ex.check_agc_kernel, _agc(only_over=False), "exceeds lambda")
    _rejected(ex.check_agc_kernel, lambda g, w, lam, eps: g[:, :2], "shape")


def test_autoclip_mistakes():
    right = lambda n, p, w, c: np.array([c if k < w else np.percentile(n[:k + 1], p) for k in range(len(n))])  # noqa: E731
    _rejected(ex.check_autoclip_thresholds,
              lambda n, p, w, c: np.array([c if k < w else np.percentile(n[:max(k, 1)], p) for k in range(len(n))]),
              "joins the history")
    _rejected(ex.check_autoclip_thresholds, lambda n, p, w, c: right(n, p, 0, c), "warm-up")
    _rejected(ex.check_autoclip_thresholds,
              lambda n, p, w, c: np.array([c if k < w else np.percentile(n, p) for k in range(len(n))]),
              "seen so far")
    _rejected(ex.check_autoclip_thresholds,
              lambda n, p, w, c: np.array([c if k < w else np.percentile(n[:k + 1], p / 100) for k in range(len(n))]),
              "between 0 and 100")
    _rejected(ex.check_autoclip_thresholds, lambda n, p, w, c: right(n, p, w, c)[1:], "one threshold per step")


def _mixed_step(order):
    def train_step(model, optimizer, x, y, threshold):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x, training=True)))
            scaled_loss = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled_loss, model.trainable_variables)
        scale = optimizer.dynamic_scale
        if order == "clip scaled":  # the notebook's bug
            grads, _ = gh.clip_by_global_norm(grads, threshold)
        elif order == "no multiply back":
            grads, _ = gh.clip_by_global_norm([g / scale for g in grads], threshold)
        elif order == "no clip":
            pass
        optimizer.apply(grads, model.trainable_variables)
        return loss
    return train_step


def test_unscaled_step_mistakes():
    _rejected(ex.check_unscaled_train_step, _mixed_step("clip scaled"), "too short", "dynamic_scale")
    _rejected(ex.check_unscaled_train_step, _mixed_step("no multiply back"), "too short", "multiply back")
    _rejected(ex.check_unscaled_train_step, _mixed_step("no clip"), "not clipped")


def test_accumulation_mistakes():
    mean = lambda micro: [sum(gs) / len(micro) for gs in zip(*micro)]  # noqa: E731
    _rejected(ex.check_accumulate_then_clip,
              lambda micro, c: mean([gh.clip_by_global_norm(m, c)[0] for m in micro]), "each micro-batch")
    _rejected(ex.check_accumulate_then_clip,
              lambda micro, c: gh.clip_by_global_norm([sum(gs) for gs in zip(*micro)], c)[0], "average")
    _rejected(ex.check_accumulate_then_clip, lambda micro, c: gh.clip_by_norm(mean(micro), c), "its own norm")


def _rnn_step(clip):
    def step(w, b, lr, threshold):
        _, gw, gb = gh.pascanu.loss_and_gradient(w, b)
        gw, gb = clip(gw, gb, threshold)
        return w - lr * gw, b - lr * gb
    return step


def test_clipped_rnn_step_mistakes():
    _rejected(ex.check_clipped_rnn_step, _rnn_step(lambda gw, gb, c: (gw, gb)), "not clipped")
    _rejected(ex.check_clipped_rnn_step,
              _rnn_step(lambda gw, gb, c: (tf.clip_by_value(gw, -c, c), tf.clip_by_value(gb, -c, c))), "separately")
    _rejected(ex.check_clipped_rnn_step, _rnn_step(lambda gw, gb, c: tuple(gh.clip_by_global_norm([gw, gb], c)[0])),
              "each run is its own model")
    _rejected(ex.check_clipped_rnn_step,
              _rnn_step(lambda gw, gb, c: (c * gw / tf.sqrt(gw ** 2 + gb ** 2), c * gb / tf.sqrt(gw ** 2 + gb ** 2))),
              "only steps whose gradient norm exceeds")
    _rejected(ex.check_clipped_rnn_step, lambda w, b, lr, c: (w, b[:2]), "shape")


def test_rnn_step_bound_mistakes():
    _rejected(ex.check_rnn_step_bound, lambda lr, c: c, "lr times it")
    _rejected(ex.check_rnn_step_bound, lambda lr, c: lr * c * 2 ** 0.5, "not the tightest")
    _rejected(ex.check_rnn_step_bound, lambda lr, c: lr * c / 2, "longer steps")


# ---------------------------------------------------------------- the checkers' own answers
# What the checkers take for granted about the package lives here, not in asserts inside the
# checkers: there a package bug would tell the learner "Not yet".


@pytest.mark.parametrize("rate, ratio", ex01.DEPTH_CASES)
def test_smallest_depth_is_the_smallest(rate, ratio):
    depth = ex01.smallest_depth(rate, ratio)
    assert rate ** (depth - 1) >= ratio > rate ** (depth - 2)


@pytest.mark.parametrize("p, warmup, threshold", ex05.AUTOCLIP_CASES)
def test_autoclip_expected_thresholds_are_the_clippers(p, warmup, threshold):
    norms = ex05.autoclip_norms()
    expected = ex05.autoclip_expected(norms, p, warmup, threshold)
    clipper = gh.AutoClipClipper(threshold, p, warmup_steps=warmup)
    after = [float(gh.global_norm(clipper.clip([tf.constant([n])]).grads)) for n in norms]
    np.testing.assert_allclose(after, np.minimum(norms, expected), rtol=1e-5)


@pytest.mark.parametrize("k, threshold", ex06.ACCUMULATION_CASES)
def test_micro_batches_average_to_the_large_batch(k, threshold):
    full, micro = ex06.micro_batch_gradients(k)
    mean = [tf.add_n(list(gs)) / k for gs in zip(*micro)]
    assert len(micro) == k and ex.framework.same(mean, full, rtol=1e-4, atol=1e-5)
    # the first case clips, the second does not: both branches of the exercise are checked
    assert (float(gh.global_norm(full)) > threshold) == (threshold < 1e6)


@pytest.mark.parametrize("lr, threshold", ex07.RNN_STEP_CASES)
def test_rnn_step_cases_have_runs_on_both_sides_of_the_threshold(lr, threshold):
    _, gw, gb = gh.pascanu.loss_and_gradient(*ex07.rnn_starts())
    norm = np.hypot(gw.numpy(), gb.numpy())
    assert np.any(norm > threshold) and np.any(norm < threshold)


@pytest.mark.parametrize("lr, threshold", ex07.RNN_BOUND_CASES)
def test_clipped_rnn_steps_are_bounded_by_lr_times_threshold(lr, threshold):
    runs = ex07.bound_runs(lr, threshold)
    assert runs.clipped.any()
    assert float(runs.step_lengths.max()) <= lr * threshold * (1 + 1e-5)


def test_every_notebook_has_its_checker_module():
    modules = sorted(p.stem for p in (ROOT / "gradclip_helpers" / "exercises").glob("nb*.py"))
    notebooks = sorted("nb" + p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
                       if "gh.exercises.check_" in p.read_text() or "exercises.check_" in p.read_text())
    assert set(notebooks) <= set(modules), set(notebooks) - set(modules)
