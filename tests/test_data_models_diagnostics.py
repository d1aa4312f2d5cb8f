"""Data sets, model builders and gradient measurements."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import gradclip_helpers as gh


def test_make_regression_is_seeded_and_unscaled():
    a, b = gh.make_regression(seed=3), gh.make_regression(seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (500, 20) and a.y_test.shape == (500, 1)
    assert 100 < np.sqrt(a.target_variance) < 300  # raw targets: std ~ 180
    c = gh.make_regression(seed=4)
    assert not np.array_equal(a.x_train, c.x_train)


def test_target_scale_and_standardize():
    base = gh.make_regression(seed=0)
    scaled = gh.make_regression(seed=0, target_scale=10.0)
    np.testing.assert_allclose(scaled.y_train, base.y_train * 10, rtol=1e-5)
    std = gh.make_regression(seed=0, standardize_targets=True)
    assert abs(std.y_train.mean()) < 1e-5 and std.target_variance == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_samples": 1}, "n_samples"), ({"n_informative": 30}, "n_informative"),
     ({"noise": -1.0}, "noise"), ({"test_fraction": 1.0}, "test_fraction")],
)
def test_make_regression_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gh.make_regression(**kwargs)


def test_diabetes_ships_with_scikit_learn():
    d = gh.load_diabetes()
    assert d.x_train.shape == (332, 10) and d.x_test.shape == (110, 10)
    assert d.y_train.min() >= 25 and d.y_train.max() <= 346


def test_seed_mlp():
    m = gh.seed_mlp(20, seed=0)
    assert [layer.units for layer in m.layers] == [128, 64, 1]
    assert m.count_params() == 11009
    np.testing.assert_array_equal(m.get_weights()[0], gh.seed_mlp(20, seed=0).get_weights()[0])
    with pytest.raises(ValueError, match="n_inputs"):
        gh.seed_mlp(0)


def test_deep_mlp_weight_scale():
    m = gh.deep_mlp(depth=4, width=256, weight_scale=2.0, seed=0)
    kernel = m.layers[1].kernel.numpy()
    assert kernel.std() == pytest.approx(2.0 / 16.0, rel=0.05)
    for bad in ({"depth": 0}, {"depth": 3, "weight_scale": 0.0}, {"depth": 3, "width": 0}):
        with pytest.raises(ValueError):
            gh.deep_mlp(**bad)


@pytest.mark.parametrize(("g", "expected"), [(2.0, 1.167), (3.0, 1.364)])
def test_tanh_gradients_grow_as_mean_field_theory_predicts(g, expected):
    assert gh.predicted_growth_rate("tanh", g) == pytest.approx(expected, abs=2e-3)
    norms = gh.layer_gradient_norms(gh.deep_mlp(30, 256, "tanh", g, seed=0))
    assert gh.fit_growth_rate(norms, 4, 25) == pytest.approx(expected, rel=0.03)


def test_predicted_growth_other_activations():
    assert gh.predicted_growth_rate("relu", np.sqrt(2)) == pytest.approx(1.0)
    assert gh.predicted_growth_rate("linear", 1.2) == pytest.approx(1.2)
    with pytest.raises(ValueError, match="activation"):
        gh.predicted_growth_rate("gelu", 1.0)


def test_fit_growth_rate_needs_two_finite_norms():
    with pytest.raises(ValueError):
        gh.fit_growth_rate([1.0])
    with pytest.raises(ValueError):
        gh.fit_growth_rate([1.0, 0.0])


def test_cosine_similarity_of_clipped_gradients():
    data = gh.make_regression(seed=0)
    g = gh.gradients(gh.seed_mlp(20, seed=0), "mse", data.x_train[:32], data.y_train[:32])
    assert gh.cosine_similarity(g, gh.clip_by_global_norm(g, 5.0)[0]) == pytest.approx(1.0, abs=1e-6)
    assert gh.cosine_similarity(g, gh.clip_by_value(g, 1.0)) < 0.95
    assert gh.cosine_similarity(g, gh.clip_by_norm(g, 5.0)) < 0.99
    with pytest.raises(ValueError, match="differ in size"):
        gh.cosine_similarity(g, g[:2])
    with pytest.raises(ValueError, match="zero gradient"):
        gh.cosine_similarity([tf.zeros(3)], [tf.ones(3)])
