"""Parity with TensorFlow's clip ops (TF's own test cases) and the clipper objects."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

import gradclip_helpers as gh

# ---------------------------------------------------------------------------
# TF's own cases (tensorflow/python/kernel_tests/math_ops/clip_ops_test.py)


def _np(grads):
    return [None if g is None else tf.convert_to_tensor(g).numpy() for g in grads]


def test_clip_by_value_tf_case():
    x = tf.constant([[-5.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    (out,) = gh.clip_by_value([x], 4.4)
    np.testing.assert_allclose(out, [[-4.4, 2.0, 3.0], [4.0, 4.4, 4.4]])


def test_clip_by_value_non_finite_tf_case():
    (out,) = gh.clip_by_value([tf.constant([np.nan, np.inf, -np.inf])], 4.0)
    assert np.isnan(out[0]) and out[1] == 4.0 and out[2] == -4.0


@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64, tf.bfloat16])
def test_clip_by_value_dtypes(dtype):
    x = tf.constant([[1, 2, 3], [4, 5, 6]], dtype)
    (out,) = gh.clip_by_value([x], 4.0)
    assert out.dtype == dtype
    np.testing.assert_allclose(tf.cast(out, tf.float32), [[1, 2, 3], [4, 4, 4]])


def test_clip_by_value_indexed_slices_tf_case():
    values = tf.constant([[[-3.0, 0.0, 0.0], [4.0, 0.0, 0.0]], [[0.0, 2.0, 0.0], [0.0, 0.0, -1.0]]])
    s = tf.IndexedSlices(values, tf.constant([2, 6]), tf.constant([10, 2, 3]))
    (out,) = gh.clip_by_value([s], 2.0)
    assert isinstance(out, tf.IndexedSlices)
    np.testing.assert_array_equal(out.indices, [2, 6])
    np.testing.assert_array_equal(out.dense_shape, [10, 2, 3])
    np.testing.assert_allclose(out.values, tf.clip_by_value(values, -2.0, 2.0))


def test_clip_by_norm_tf_cases():
    x = tf.constant([[-3.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    (clipped,) = gh.clip_by_norm([x], 4.0)
    np.testing.assert_allclose(clipped, [[-2.4, 0.0, 0.0], [3.2, 0.0, 0.0]], rtol=1e-6)
    (unclipped,) = gh.clip_by_norm([x], 6.0)
    np.testing.assert_array_equal(unclipped, x)
    (zero,) = gh.clip_by_norm([tf.zeros([2, 3])], 6.0)
    np.testing.assert_array_equal(zero, np.zeros([2, 3]))


def test_clip_by_norm_gradient_at_zero_is_finite():
    x = tf.zeros([3])
    with tf.GradientTape() as tape:
        tape.watch(x)
        (y,) = gh.clip_by_norm([x], 1.0)
    np.testing.assert_array_equal(tape.gradient(y, x), [1.0, 1.0, 1.0])


def test_clip_by_global_norm_tf_cases():
    x0 = tf.constant([[-2.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    x1 = tf.constant([1.0, -2.0])
    (c0, c1), norm = gh.clip_by_global_norm([x0, x1], 4.0)
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_allclose(c0, [[-1.6, 0.0, 0.0], [3.2, 0.0, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(c1, [0.8, -1.6], rtol=1e-6)
    (u0, u1), norm = gh.clip_by_global_norm([x0, x1], 6.0)
    np.testing.assert_array_equal(u0, x0)
    assert float(norm) == pytest.approx(5.0)
    zeros, norm = gh.clip_by_global_norm([tf.zeros([2, 3]), tf.zeros([2])], 1.0)
    assert float(norm) == 0.0 and all(np.all(np.asarray(z) == 0) for z in zeros)


def test_clip_by_global_norm_supports_none_tf_case():
    x0 = tf.constant([[-2.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    x1 = tf.constant([1.0, -2.0])
    out, norm = gh.clip_by_global_norm((x0, None, x1, None), 4.0)
    assert out[1] is None and out[3] is None
    np.testing.assert_allclose(out[2], [0.8, -1.6], rtol=1e-6)


def test_clip_by_global_norm_indexed_slices_keep_dense_shape():
    x0 = tf.constant([[-2.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    x1 = tf.IndexedSlices(tf.constant([1.0, -2.0]), tf.constant([3, 4]), tf.constant([10]))
    (c0, c1), norm = gh.clip_by_global_norm([x0, x1], 4.0)
    assert isinstance(c1, tf.IndexedSlices)
    np.testing.assert_allclose(c1.values, [0.8, -1.6], rtol=1e-6)
    np.testing.assert_array_equal(c1.indices, [3, 4])
    np.testing.assert_array_equal(c1.dense_shape, [10])


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_clip_by_global_norm_non_finite_gives_all_nan_like_tf(bad):
    x0 = tf.constant([[-2.0, 0.0, 0.0], [4.0, bad, 0.0]])
    x1 = tf.constant([1.0, -2.0])
    ours, norm = gh.clip_by_global_norm([x0, x1], 4.0)
    theirs, tf_norm = tf.clip_by_global_norm([x0, x1], 4.0)
    assert not np.isfinite(float(norm))
    for a, b in zip(ours, theirs):
        assert np.all(np.isnan(a)) and np.all(np.isnan(b))


def test_clip_value_empty_tensor():
    (out,) = gh.clip_by_value([tf.zeros([7, 0])], 1.0)
    assert out.shape == (7, 0)


# ---------------------------------------------------------------------------
# Random parity, eager and inside tf.function


def _random_grads(seed, scale=10.0):
    rng = np.random.default_rng(seed)
    shapes = [(20, 8), (8,), (8, 4, 3), (1,)]
    return [tf.constant(rng.standard_normal(s) * scale, tf.float32) for s in shapes]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.1, 1.0, 50.0])
def test_random_parity_with_tf(seed, threshold):
    grads = _random_grads(seed)
    for ours, theirs in zip(gh.clip_by_value(grads, threshold), grads):
        np.testing.assert_array_equal(ours, tf.clip_by_value(theirs, -threshold, threshold))
    for ours, theirs in zip(gh.clip_by_norm(grads, threshold), grads):
        np.testing.assert_allclose(ours, tf.clip_by_norm(theirs, threshold), rtol=1e-6)
    ours, norm = gh.clip_by_global_norm(grads, threshold)
    theirs, tf_norm = tf.clip_by_global_norm(grads, threshold)
    np.testing.assert_allclose(norm, tf_norm, rtol=1e-6)
    np.testing.assert_allclose(gh.global_norm(grads), tf.linalg.global_norm(grads), rtol=1e-6)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_functions_work_inside_tf_function():
    grads = _random_grads(0)

    @tf.function
    def all_clips(gs):
        clipped, norm = gh.clip_by_global_norm(gs, 1.0)
        return gh.clip_by_value(gs, 1.0), gh.clip_by_norm(gs, 1.0), clipped, norm, gh.global_norm(gs)

    value, per, glob, norm, norm2 = all_clips(grads)
    eager_glob, eager_norm = gh.clip_by_global_norm(grads, 1.0)
    np.testing.assert_allclose(norm, eager_norm, rtol=1e-6)
    np.testing.assert_allclose(norm, norm2, rtol=1e-6)
    for a, b in zip(glob, eager_glob):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_accepts_generators_and_tuples():
    grads = _random_grads(1)
    from_gen, n1 = gh.clip_by_global_norm((g for g in grads), 1.0)
    from_tuple, n2 = gh.clip_by_global_norm(tuple(grads), 1.0)
    assert float(n1) == float(n2)
    assert len(gh.clip_by_value((g for g in grads), 1.0)) == len(grads)
    assert len(gh.clip_by_norm(iter(grads), 1.0)) == len(grads)
    assert float(gh.global_norm(g for g in grads)) == pytest.approx(float(n1))


def test_none_entries_come_back_as_none_everywhere():
    grads = [tf.constant([3.0, 4.0]), None]
    assert gh.clip_by_value(grads, 1.0)[1] is None
    assert gh.clip_by_norm(grads, 1.0)[1] is None
    assert gh.clip_by_global_norm(grads, 1.0)[0][1] is None
    assert float(gh.global_norm(grads)) == pytest.approx(5.0)
    assert float(gh.global_norm([None])) == 0.0


def test_indexed_slices_by_norm_match_dense():
    values = tf.constant([[3.0, 4.0], [0.0, 12.0]])
    s = tf.IndexedSlices(values, tf.constant([0, 2]), tf.constant([4, 2]))
    (out,) = gh.clip_by_norm([s], 1.0)
    assert isinstance(out, tf.IndexedSlices)
    np.testing.assert_allclose(out.values, tf.clip_by_norm(values, 1.0), rtol=1e-6)
    np.testing.assert_array_equal(out.dense_shape, [4, 2])


def test_embedding_gradients_are_indexed_slices_and_clip():
    import keras

    layer = keras.layers.Embedding(100, 4)
    layer.build((None, 3))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(tf.constant([[1, 2, 3]])) ** 2) * 100
    (grad,) = tape.gradient(loss, layer.trainable_variables)
    assert isinstance(grad, tf.IndexedSlices)
    (clipped,), norm = gh.clip_by_global_norm([grad], 1.0)
    assert isinstance(clipped, tf.IndexedSlices)
    assert float(gh.global_norm([clipped])) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16])
def test_low_precision_norms_in_float32(dtype):
    grads = [tf.constant([300.0] * 4, dtype)]  # squares overflow float16
    assert gh.global_norm(grads).dtype == tf.float32
    assert float(gh.global_norm(grads)) == pytest.approx(600.0, rel=1e-2)
    (g,), norm = gh.clip_by_global_norm(grads, 5.0)
    assert g.dtype == dtype
    np.testing.assert_allclose(tf.cast(g, tf.float32), [2.5] * 4, rtol=1e-2)
    (p,) = gh.clip_by_norm(grads, 5.0)
    assert p.dtype == dtype
    np.testing.assert_allclose(tf.cast(p, tf.float32), [2.5] * 4, rtol=1e-2)


def test_tf_itself_overflows_in_float16():
    # Why the float32 norm matters: TF's own op returns inf/NaN here.
    grads = [tf.constant([300.0] * 4, tf.float16)]
    _, norm = tf.clip_by_global_norm(grads, 5.0)
    assert not math.isfinite(float(norm))


def test_zero_gradient_stays_finite():
    grads = [tf.zeros([3]), tf.zeros([2, 2])]
    for out in (gh.clip_by_norm(grads, 1.0), gh.clip_by_global_norm(grads, 1.0)[0]):
        assert all(np.all(np.isfinite(g)) for g in out)


# ---------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "1.0", None, True, [1.0]])
@pytest.mark.parametrize("fn", [gh.clip_by_value, gh.clip_by_norm, gh.clip_by_global_norm])
def test_bad_thresholds_raise_value_error_naming_argument(fn, bad):
    with pytest.raises(ValueError, match=r"clip_(value|norm) must be .*> 0"):
        fn([tf.constant([1.0])], bad)


def test_single_tensor_instead_of_list_is_a_clear_error():
    with pytest.raises(TypeError, match="list of gradients"):
        gh.clip_by_value(tf.constant([1.0]), 1.0)


def test_threshold_may_be_an_eager_tensor():
    (out,) = gh.clip_by_value([tf.constant([5.0])], tf.constant(2.0))
    assert float(out[0]) == 2.0


# ---------------------------------------------------------------------------
# Clippers


def test_make_clipper_by_name():
    assert isinstance(gh.make_clipper("none"), gh.NoClipper)
    assert isinstance(gh.make_clipper(None), gh.NoClipper)
    assert isinstance(gh.make_clipper("value", 1), gh.ValueClipper)
    assert isinstance(gh.make_clipper("norm", 1), gh.NormClipper)
    assert isinstance(gh.make_clipper("global_norm", 1), gh.GlobalNormClipper)
    clipper = gh.make_clipper("norm", 2.0)
    assert gh.make_clipper(clipper) is clipper


def test_make_clipper_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="global_norm.*none.*norm.*value|valid methods"):
        gh.make_clipper("globalnorm", 1.0)


@pytest.mark.parametrize("method", ["value", "norm", "global_norm"])
def test_make_clipper_needs_valid_threshold(method):
    with pytest.raises(ValueError, match="threshold"):
        gh.make_clipper(method)
    with pytest.raises(ValueError, match="threshold must be a finite number > 0"):
        gh.make_clipper(method, -2.0)


def test_keras_kwargs():
    assert gh.make_clipper("value", 1.0).keras_kwargs() == {"clipvalue": 1.0}
    assert gh.make_clipper("norm", 2.0).keras_kwargs() == {"clipnorm": 2.0}
    assert gh.make_clipper("global_norm", 3.0).keras_kwargs() == {"global_clipnorm": 3.0}
    assert gh.make_clipper("none").keras_kwargs() == {}


@pytest.mark.parametrize(
    ("method", "threshold", "expect"),
    [("value", 5.0, False), ("value", 3.5, True), ("norm", 5.0, False), ("norm", 4.0, True),
     ("global_norm", 5.1, False), ("global_norm", 5.0, False), ("global_norm", 4.9, True), ("none", None, False)],
)
def test_clippers_say_whether_they_clipped(method, threshold, expect):
    grads = [tf.constant([3.0, 4.0]), tf.constant([0.0])]  # global norm 5, max entry 4
    result = gh.make_clipper(method, threshold).clip(grads)
    assert bool(result.clipped) is expect


def test_clipper_matches_function_and_checks_lengths():
    grads = _random_grads(3)
    clipper = gh.make_clipper("global_norm", 1.0)
    expected, _ = gh.clip_by_global_norm(grads, 1.0)
    for a, b in zip(clipper(grads), expected):
        np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="4 gradients for 3 variables"):
        clipper.clip(grads, variables=[tf.Variable(1.0)] * 3)
