"""Property tests: the four clip functions against a dense numpy reference of the maths.

Random gradient lists (dense tensors of any rank including empty ones, ``None``,
``tf.IndexedSlices`` with repeated rows) in float16, bfloat16, float32 and
float64, thresholds across six decades, eagerly and inside ``tf.function``.
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gradclip_helpers as gh

DTYPES = {tf.float16: 2e-3, tf.bfloat16: 1.6e-2, tf.float32: 2e-6, tf.float64: 2e-6}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def gradient_lists(draw):
    dtype = draw(st.sampled_from(list(DTYPES)))
    scale = 10.0 ** draw(st.integers(-2, 2))
    values = st.floats(-10, 10, allow_nan=False, width=32)
    grads = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["dense", "none", "slices"]))
        if kind == "none":
            grads.append(None)
        elif kind == "dense":
            shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
            grads.append(tf.constant(draw(arrays(np.float64, shape, elements=values)) * scale, dtype))
        else:
            rows, width, k = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(0, 6))
            indices = draw(arrays(np.int32, (k,), elements=st.integers(0, rows - 1)))
            slice_values = tf.constant(draw(arrays(np.float64, (k, width), elements=values)) * scale, dtype)
            grads.append(tf.IndexedSlices(slice_values, tf.constant(indices), tf.constant([rows, width])))
    threshold = float(10.0 ** draw(st.floats(-3, 3)))
    return grads, threshold, dtype


def _dense(g) -> np.ndarray | None:
    """A gradient as the dense float64 array it stands for (repeated rows summed, as TF densifies)."""
    if g is None:
        return None
    if isinstance(g, tf.IndexedSlices):
        out = np.zeros(g.dense_shape.numpy(), np.float64)
        np.add.at(out, g.indices.numpy(), tf.cast(g.values, tf.float64).numpy())
        return out
    return tf.cast(g, tf.float64).numpy()


def _check(result, expected, dtype, scale):
    assert len(result) == len(expected)
    for r, e in zip(result, expected):
        if e is None:
            assert r is None
            continue
        assert r.dtype == dtype
        np.testing.assert_allclose(_dense(r), e, rtol=DTYPES[dtype], atol=DTYPES[dtype] * scale)


def _runners(fn):
    return {"eager": fn, "tf.function": tf.function(fn, reduce_retracing=True)}


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
@SETTINGS
@given(case=gradient_lists())
def test_global_norm_is_the_dense_norm(mode, case):
    grads, _, dtype = case
    dense = [_dense(g) for g in grads]
    expected = np.sqrt(sum(np.sum(d ** 2) for d in dense if d is not None))
    got = float(_runners(gh.global_norm)[mode](grads))
    assert got == pytest.approx(expected, rel=max(DTYPES[dtype], 1e-6), abs=1e-30)


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
@SETTINGS
@given(case=gradient_lists())
def test_clip_by_value_clips_every_dense_entry(mode, case):
    grads, c, dtype = case
    dense = [_dense(g) for g in grads]
    result = _runners(lambda g: gh.clip_by_value(g, c))[mode](grads)
    cast_c = float(tf.cast(c, dtype))
    _check(result, [None if d is None else np.clip(d, -cast_c, cast_c) for d in dense], dtype, cast_c)


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
@SETTINGS
@given(case=gradient_lists())
def test_clip_by_norm_scales_each_dense_tensor(mode, case):
    grads, c, dtype = case
    dense = [_dense(g) for g in grads]
    result = _runners(lambda g: gh.clip_by_norm(g, c))[mode](grads)
    expected = [None if d is None else d * c / max(np.linalg.norm(d), c) for d in dense]
    _check(result, expected, dtype, c)
    for r in result:
        if r is not None:
            assert np.linalg.norm(_dense(r)) <= c * (1 + 4 * DTYPES[dtype])


@pytest.mark.parametrize("mode", ["eager", "tf.function"])
@SETTINGS
@given(case=gradient_lists())
def test_clip_by_global_norm_scales_all_together(mode, case):
    grads, c, dtype = case
    dense = [_dense(g) for g in grads]
    norm = np.sqrt(sum(np.sum(d ** 2) for d in dense if d is not None))
    result, got_norm = _runners(lambda g: gh.clip_by_global_norm(g, c))[mode](grads)
    assert float(got_norm) == pytest.approx(norm, rel=max(DTYPES[dtype], 1e-6))
    _check(result, [None if d is None else d * c / max(norm, c) for d in dense], dtype, c)
