"""Adaptive clippers: AGC, AutoClip, ZClip."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import gradclip_helpers as gh


def test_registered_with_make_clipper():
    assert isinstance(gh.make_clipper("agc"), gh.AGCClipper)
    assert gh.make_clipper("agc").threshold == 0.01
    assert isinstance(gh.make_clipper("autoclip", 1.0), gh.AutoClipClipper)
    assert isinstance(gh.make_clipper("zclip"), gh.ZClipClipper)
    with pytest.raises(ValueError, match="has no Keras optimizer equivalent"):
        gh.make_clipper("agc").keras_kwargs()


def test_unitwise_norm_shapes():
    assert gh.unitwise_norm(tf.ones([3])).shape == ()
    assert gh.unitwise_norm(tf.ones([4, 5])).shape == (1, 5)
    assert gh.unitwise_norm(tf.ones([3, 3, 2, 8])).shape == (1, 1, 1, 8)
    np.testing.assert_allclose(gh.unitwise_norm(tf.ones([4, 5])), np.full((1, 5), 2.0))


def test_agc_matches_the_rule_per_unit():
    w = tf.Variable([[1.0, 0.0], [0.0, 2.0]], name="dense/kernel")
    b = tf.Variable([0.0, 0.0], name="dense/bias")
    g_w = tf.constant([[0.5, 0.0], [0.0, 0.01]])
    g_b = tf.constant([1.0, 0.0])
    out = gh.AGCClipper(0.1, eps=1e-3, exclude_final_layer=False).clip([g_w, g_b], [w, b])
    # column 0: |g|=0.5 > 0.1*1 -> scaled to 0.1; column 1: 0.01 < 0.1*2 -> kept
    np.testing.assert_allclose(out.grads[0], [[0.1, 0.0], [0.0, 0.01]], rtol=1e-6)
    # zero bias: the eps floor allows 0.1 * 1e-3
    np.testing.assert_allclose(out.grads[1], [1e-4, 0.0], rtol=1e-5)
    assert bool(out.clipped)


def test_agc_excludes_final_layer_and_needs_variables():
    model = gh.seed_mlp(20, seed=0)
    data = gh.make_regression(n_samples=64, seed=0)
    grads = gh.gradients(model, "mse", data.x_train, data.y_train)
    out = gh.AGCClipper().clip(grads, model.trainable_variables)
    for g, c in zip(grads[-2:], out.grads[-2:]):
        np.testing.assert_array_equal(g, c)
    assert not np.allclose(grads[0], out.grads[0])
    with pytest.raises(ValueError, match="needs the variables"):
        gh.AGCClipper().clip(grads)


def _linear_percentile_float32(x: np.ndarray, p: float) -> np.float32:
    """np.percentile's linear method, step by step in float32 (as the pre-top_k sort-based code did)."""
    v = np.sort(x.astype(np.float32))
    pos = (np.float32(v.size) - np.float32(1.0)) * np.float32(p) / np.float32(100.0)
    lo = int(np.floor(pos))
    hi = min(lo + 1, v.size - 1)
    frac = pos - np.floor(pos)
    return v[lo] * (np.float32(1.0) - frac) + v[hi] * frac


def test_percentile_matches_numpy():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100, 1000):
        x = rng.lognormal(size=n).astype(np.float32)
        for p in (0, 3.3, 10, 50, 90, 99.9, 100):
            got = float(gh.percentile(tf.constant(x), p))
            assert got == pytest.approx(np.percentile(x, p), rel=1e-5)
            assert got == float(_linear_percentile_float32(x, p))  # bit for bit


@pytest.mark.parametrize("size", [1, 2, 9, 64])
def test_percentile_of_a_filling_buffer_masks_the_unfilled_slots(size):
    rng = np.random.default_rng(size)
    buffer = np.zeros(64, np.float32)
    buffer[:size] = rng.lognormal(size=size)
    buffer[size:] = -1.0  # would be the smallest values if they were not masked
    for p in (0, 10, 50, 100):
        got = float(gh.percentile(tf.constant(buffer), p, size=size))
        assert got == float(_linear_percentile_float32(buffer[:size], p))
    assert np.isnan(float(gh.percentile(tf.constant(buffer), 10, size=0)))


def _graph_ops(clipper, grads, variables=None) -> set[str]:
    fn = tf.function(lambda g: clipper.clip(g, variables).grads)
    graph = fn.get_concrete_function([tf.TensorSpec(g.shape, g.dtype) for g in grads]).graph
    return {op.type for op in graph.get_operations()}


@pytest.mark.parametrize("method", ["agc", "autoclip", "zclip"])
def test_no_branch_and_no_full_sort_in_the_step(method):
    model = gh.seed_mlp(4, seed=0)
    grads = [tf.ones_like(v) for v in model.trainable_variables]
    ops = _graph_ops(gh.make_clipper(method), grads, model.trainable_variables)
    assert not ops & {"If", "StatelessIf", "Switch", "Merge", "While", "StatelessWhile"}
    if method == "autoclip":
        assert "TopKV2" in ops  # the percentile ranks only the smallest values


@pytest.mark.parametrize("method, changes", [
    ("agc", {"threshold": 0.5, "eps": 0.1}),
    ("autoclip", {"threshold": 0.5, "percentile": 90.0, "warmup_steps": 3}),
    ("zclip", {"threshold": 0.5, "alpha": 0.5, "z_thresh": 1.5, "eps": 1e-3}),
])
def test_changing_a_hyperparameter_is_an_assignment_not_a_retrace(method, changes):
    model = gh.seed_mlp(4, seed=0)
    variables = model.trainable_variables
    grads = [tf.fill(v.shape, 3.0) for v in variables]
    live, fresh = gh.make_clipper(method), gh.make_clipper(method, **changes)
    step = tf.function(lambda g: live.clip(g, variables))
    step(grads)
    for name, value in changes.items():
        setattr(live, name, value)
        assert getattr(live, name) == value  # read back as set (0.97 stays 0.97)
    fresh.clip(grads, variables)
    got, want = step(grads), fresh.clip(grads, variables)
    assert step.experimental_get_tracing_count() == 1
    for a, b in zip(got.grads, want.grads):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert bool(got.clipped) == bool(want.clipped)
    assert repr(live) == repr(fresh)
    with pytest.raises(ValueError, match="threshold"):
        live.threshold = -1.0


def test_zclip_threshold_none_means_no_cap_and_settings_are_checked():
    clipper = gh.ZClipClipper(threshold=2.0)
    clipper.threshold = None
    assert clipper.threshold is None and "threshold=None" in repr(clipper)
    with pytest.raises(ValueError, match="alpha"):
        clipper.alpha = 1.0
    with pytest.raises(ValueError, match="percentile"):
        gh.AutoClipClipper(percentile=101)
    with pytest.raises(ValueError, match="warmup_steps"):
        gh.AutoClipClipper().warmup_steps = 2.5


def test_autoclip_uses_warmup_then_percentile():
    clipper = gh.AutoClipClipper(threshold=2.0, percentile=50, warmup_steps=3, history_size=10)
    norms = []
    for value in [1.0, 4.0, 3.0, 10.0]:
        result = clipper.clip([tf.constant([value])])
        norms.append(float(result.grads[0][0]))
    # warm-up (fixed 2.0): 1 -> 1, 4 -> 2, 3 -> 2; then median of [1, 4, 3, 10] = 3.5
    assert norms == pytest.approx([1.0, 2.0, 2.0, 3.5])
    assert int(clipper.count) == 4
    clipper.clip([tf.constant([np.inf])])
    assert int(clipper.count) == 4  # non-finite norms are not recorded
    clipper.reset()
    assert int(clipper.count) == 0


def test_zclip_clips_spikes_after_warmup():
    clipper = gh.ZClipClipper(warmup_steps=5, alpha=0.9, z_thresh=2.5)
    for value in [9.0, 11.0] * 10:
        assert not bool(clipper.clip([tf.constant([value])]).clipped)
    mean, std = float(clipper.mean), float(np.sqrt(float(clipper.var)))
    spike = clipper.clip([tf.constant([1000.0])])
    assert bool(spike.clipped)
    z = (1000.0 - mean) / std
    assert float(spike.grads[0][0]) == pytest.approx(mean + 2.5 * std / (z / 2.5), rel=1e-4)
    assert float(clipper.mean) < 1.1 * mean  # the EMA saw the clipped norm, not the spike


def test_zclip_hard_cap_applies_during_warmup():
    clipper = gh.ZClipClipper(threshold=1.0, warmup_steps=5)
    out = clipper.clip([tf.constant([3.0, 4.0])])
    assert float(gh.global_norm(out.grads)) == pytest.approx(1.0)


def test_state_is_checkpointable(tmp_path):
    clipper = gh.AutoClipClipper(threshold=1.0, warmup_steps=0)
    clipper.clip([tf.constant([5.0])])
    clipper.percentile = 30.0
    path = tf.train.Checkpoint(clipper=clipper).save(str(tmp_path / "ckpt"))
    fresh = gh.AutoClipClipper(threshold=1.0, warmup_steps=0)
    tf.train.Checkpoint(clipper=fresh).restore(path).assert_consumed()
    assert int(fresh.count) == 1 and float(fresh.history[0]) == 5.0
    assert fresh.percentile == 30.0  # the settings are state too
    zclip = gh.ZClipClipper(warmup_steps=2)
    for value in (1.0, 3.0, 2.0):
        zclip.clip([tf.constant([value])])
    path = tf.train.Checkpoint(clipper=zclip).save(str(tmp_path / "zclip"))
    restored = gh.ZClipClipper(warmup_steps=2)
    tf.train.Checkpoint(clipper=restored).restore(path).assert_consumed()
    assert (float(restored.mean), float(restored.var), int(restored.count)) == (
        float(zclip.mean), float(zclip.var), 2)


@pytest.mark.parametrize("method", ["agc", "autoclip", "zclip"])
def test_adaptive_clippers_train_inside_tf_function_and_fit(method):
    data = gh.make_regression(n_samples=128, seed=0, standardize_targets=True)
    xy = (data.x_train, data.y_train)
    h = gh.train(gh.seed_mlp(20, seed=0), xy, optimizer=keras.optimizers.SGD(0.01),
                 clipper=method, epochs=2, progress=False)
    assert h.traces == 1 and not h.diverged and h.method == method
    model = gh.ClippingModel(gh.seed_mlp(20, seed=0), method)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    logs = model.fit(*xy, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][-1])


def test_agc_on_the_exploding_setup():
    """E7: AGC keeps the seed MLP finite; applied to the output layer too, it stalls."""
    data = gh.make_regression(seed=0)
    xy = (data.x_train, data.y_train)
    runs = {
        exclude: gh.train(gh.seed_mlp(20, seed=0), xy, optimizer=keras.optimizers.SGD(0.01),
                          clipper=gh.AGCClipper(0.01, exclude_final_layer=exclude), epochs=10, progress=False)
        for exclude in (True, False)
    }
    assert not runs[True].diverged and runs[True].final_loss / data.target_variance < 0.9
    assert runs[False].final_loss / data.target_variance > 0.95
