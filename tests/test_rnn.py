"""Recurrent networks (notebook 07): the adding problem, the IRNN, Pascanu's one-unit RNN, its plot and widget."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

import gradclip_helpers as gh
from gradclip_helpers import pascanu

# --------------------------------------------------------------------------
# adding_problem and irnn


def test_adding_problem_has_one_marker_per_half_and_the_right_target():
    x, y = gh.adding_problem(500, length=12, seed=3)
    assert x.shape == (500, 12, 2) and y.shape == (500, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert values.min() >= 0.0 and values.max() < 1.0
    assert set(np.unique(markers)) == {0.0, 1.0}
    np.testing.assert_array_equal(markers[:, :6].sum(axis=1), 1.0)
    np.testing.assert_array_equal(markers[:, 6:].sum(axis=1), 1.0)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=1), rtol=1e-6)
    # both halves are used at every position
    assert set(np.argmax(markers[:, :6], axis=1)) == set(range(6))
    assert set(np.argmax(markers[:, 6:], axis=1)) == set(range(6))
    # predicting the mean scores about Var(u_i + u_j) = 1/6
    assert abs(float(np.var(y)) - 1 / 6) < 0.03


def test_adding_problem_is_seeded_and_checks_arguments():
    a, b = gh.adding_problem(8, 10, seed=1), gh.adding_problem(8, 10, seed=1)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], gh.adding_problem(8, 10, seed=2)[0])
    with pytest.raises(ValueError, match="length must be an integer >= 2, got 1"):
        gh.adding_problem(8, 1)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        gh.adding_problem(0, 10)


def test_irnn_is_a_relu_simple_rnn_starting_at_the_identity():
    model = gh.irnn(hidden=6, length=7, seed=0)
    rnn = model.layers[0]
    assert rnn.__class__.__name__ == "SimpleRNN" and rnn.unroll
    assert rnn.cell.activation.__name__ == "relu"
    np.testing.assert_array_equal(rnn.cell.recurrent_kernel.numpy(), np.eye(6))
    np.testing.assert_array_equal(rnn.cell.bias.numpy(), 0.0)
    assert np.abs(rnn.cell.kernel.numpy()).max() < 0.01
    np.testing.assert_array_equal(rnn.cell.kernel.numpy(), gh.irnn(6, 7, seed=0).layers[0].cell.kernel.numpy())
    x, _ = gh.adding_problem(4, 7, seed=0)
    assert model(x).shape == (4, 1)
    assert not gh.irnn(6, 7, unroll=False).layers[0].unroll
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        gh.irnn(hidden=0)


# --------------------------------------------------------------------------
# Pascanu's one-unit RNN


def _numpy_final_state(w, b, steps=50, x0=0.5):
    x = np.full(np.shape(w), x0, dtype=np.float64)
    for _ in range(steps):
        x = w / (1 + np.exp(-x)) + b
    return x


def _numpy_loss(w, b):
    return (1 / (1 + np.exp(-_numpy_final_state(w, b))) - 0.7) ** 2


POINTS_W = np.array([3.2, 4.0, 5.0, 6.0, 6.8, 5.0], dtype=np.float32)
POINTS_B = np.array([-3.9, -2.5, -3.0, -2.0, -3.5, -1.5], dtype=np.float32)


def test_loss_matches_a_float64_reference_away_from_the_wall():
    np.testing.assert_allclose(pascanu.loss(POINTS_W, POINTS_B).numpy(), _numpy_loss(POINTS_W, POINTS_B),
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(pascanu.final_state(POINTS_W, POINTS_B, steps=3).numpy(),
                               _numpy_final_state(POINTS_W, POINTS_B, steps=3), rtol=1e-5)


def test_gradient_matches_finite_differences():
    _, gw, gb = pascanu.loss_and_gradient(POINTS_W, POINTS_B)
    w, b, h = POINTS_W.astype(np.float64), POINTS_B.astype(np.float64), 1e-6
    fd_w = (_numpy_loss(w + h, b) - _numpy_loss(w - h, b)) / (2 * h)
    fd_b = (_numpy_loss(w, b + h) - _numpy_loss(w, b - h)) / (2 * h)
    np.testing.assert_allclose(gw.numpy(), fd_w, rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(gb.numpy(), fd_b, rtol=2e-3, atol=1e-6)


def test_the_wall_location_and_its_gradient_spike():
    walls = pascanu.cliff_bias([5.0, 6.0, 7.0])
    np.testing.assert_allclose(walls, [-2.6124, -3.235, -3.857], atol=2e-3)
    wall = float(walls[0])
    assert pascanu.loss(5.0, wall - 0.1) > 10 * pascanu.loss(5.0, wall + 0.1)
    near = wall + np.linspace(-1e-3, 1e-3, 401, dtype=np.float32)
    far = np.linspace(-3.5, -1.5, 401, dtype=np.float32)
    far = far[np.abs(far - wall) > 0.01]
    _, gw, gb = pascanu.loss_and_gradient(np.full_like(near, 5.0), near)
    _, fw, fb = pascanu.loss_and_gradient(np.full_like(far, 5.0), far)
    assert np.hypot(gw, gb).max() > 100 * np.hypot(fw, fb).max()


def test_loss_surface_rows_are_biases():
    s = pascanu.loss_surface(w_range=(4.0, 6.0), b_range=(-3.0, -2.0), resolution=5)
    assert s.loss.shape == (5, 5)
    np.testing.assert_allclose(s.loss[1, 3], float(pascanu.loss(s.w[3], s.b[1])), rtol=1e-6)


def test_random_starts_follow_the_research_draw():
    w0, b0 = pascanu.random_starts(200, seed=0)
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(w0, rng.uniform(3, 7, 200).astype(np.float32))
    np.testing.assert_allclose(b0, rng.uniform(-4, -3, 200).astype(np.float32))


def test_descend_unclipped_is_plain_gradient_descent():
    w0, b0 = POINTS_W[:3], POINTS_B[:3]
    t = pascanu.descend(w0, b0, lr=0.1, steps=2)
    assert t.w.shape == (3, 3) and t.grad_norm.shape == (2, 3) and t.method == "none"
    e, gw, gb = pascanu.loss_and_gradient(w0, b0)
    np.testing.assert_allclose(t.w[1], w0 - 0.1 * gw.numpy(), rtol=1e-6)
    np.testing.assert_allclose(t.b[1], b0 - 0.1 * gb.numpy(), rtol=1e-6)
    np.testing.assert_allclose(t.loss[0], e.numpy(), rtol=1e-6)
    np.testing.assert_allclose(t.grad_norm[0], np.hypot(gw, gb), rtol=1e-5)
    assert not t.clipped.any() and t.clip_fraction == 0.0


def test_descend_clips_each_run_like_clip_by_global_norm_of_that_run():
    # starts right at the wall, so some runs are clipped and others not
    w0 = np.array([5.0, 5.0, 6.0, 3.5], dtype=np.float32)
    b0 = np.array([-2.6123, -3.0, -3.2347, -3.5], dtype=np.float32)
    c = 0.05
    t = pascanu.descend(w0, b0, lr=1.0, steps=1, threshold=c)
    _, gw, gb = pascanu.loss_and_gradient(w0, b0)
    for i in range(len(w0)):
        (cw, cb), norm = tf.clip_by_global_norm([gw[i], gb[i]], c)
        np.testing.assert_allclose([t.w[1, i] - w0[i], t.b[1, i] - b0[i]], [-float(cw), -float(cb)],
                                   rtol=1e-3, atol=1e-6)
        assert bool(t.clipped[0, i]) == bool(norm > c)
    assert t.clipped[0].any() and not t.clipped[0].all()
    # the runs are independent: one run alone follows the same path
    alone = pascanu.descend(w0[:1], b0[:1], lr=1.0, steps=1, threshold=c)
    np.testing.assert_allclose(alone.w[:, 0], t.w[:, 0], rtol=1e-6)


def test_clipping_saves_the_runs_the_wall_throws_away():
    """Research E1 acceptance checks 2 and 3 (200 runs, lr 0.5, 300 steps)."""
    w0, b0 = pascanu.random_starts(200, seed=0)
    free = pascanu.descend(w0, b0, lr=0.5, steps=300)
    clipped = pascanu.descend(w0, b0, lr=0.5, steps=300, threshold=1.0)
    assert 0.10 <= free.catapulted().mean() <= 0.45 and free.converged().mean() <= 0.75
    assert clipped.step_lengths.max() <= 0.5 * (1 + 1e-5)
    assert not clipped.catapulted().any() and clipped.converged().mean() >= 0.95
    assert 0 < clipped.clip_fraction < 0.02 and clipped.method == "global_norm"


def test_pascanu_arguments_are_checked():
    with pytest.raises(ValueError, match="same shape"):
        pascanu.loss([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        pascanu.final_state(5.0, -2.0, steps=0)
    with pytest.raises(ValueError, match="threshold must be a finite number > 0"):
        pascanu.descend([5.0], [-3.0], threshold=0.0)
    with pytest.raises(ValueError, match="1-D"):
        pascanu.descend([[5.0]], [[-3.0]])
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        pascanu.descend([5.0], [-3.0], lr=-1.0)
    with pytest.raises(ValueError, match="w > 0"):
        pascanu.cliff_bias([-1.0])


# --------------------------------------------------------------------------
# plot and widget


@pytest.fixture(scope="module")
def small():
    w0, b0 = pascanu.random_starts(30, seed=1)
    surface = pascanu.loss_surface(resolution=40)
    return surface, w0, b0, pascanu.descend(w0, b0, steps=150)


def test_plot_cliff_draws_one_panel_per_run_with_the_paths(small):
    surface, w0, b0, free = small
    clipped = pascanu.descend(w0, b0, steps=150, threshold=1.0)
    fig = gh.plot_cliff(surface, {"none": free, "clipped": clipped}, max_paths=10, title="finding")
    assert isinstance(fig, Figure) and fig.get_suptitle() == "finding"
    panels = [ax for ax in fig.axes if ax.get_xlabel() == "recurrent weight w"]
    assert len(panels) == 2
    np.testing.assert_allclose(panels[1].lines[0].get_xdata(), clipped.w[:, 0])
    assert panels[1].lines[0].get_color() == gh.METHOD_COLORS["global_norm"]
    assert f"{clipped.converged().mean():.0%} end with E < 0.05" in panels[1].get_title()
    dashed = [line for line in panels[0].lines if line.get_linestyle() == "--" and len(line.get_xdata()) == 2]
    jumps = np.hypot(np.diff(free.w[:, :10], axis=0), np.diff(free.b[:, :10], axis=0)) > 5.0
    assert len(dashed) == int(jumps.sum())
    alone = gh.plot_cliff(surface)
    assert len([ax for ax in alone.axes if ax.get_xlabel()]) == 1


def test_cliff_explorer_redraws_when_the_threshold_moves(small):
    surface, w0, b0, free = small
    explorer = gh.cliff_explorer(w0, b0, threshold=1.0, steps=150, surface=surface, baseline=free)
    assert explorer.draw_count == 1 and explorer.error is None
    first = explorer.figures[0].get_suptitle()
    assert first.startswith("threshold 1: steps capped at lr*c = 0.5")
    explorer.controls["threshold"].value = 100.0
    assert explorer.draw_count == 2 and explorer.error is None
    assert explorer.figures[0].get_suptitle().startswith("threshold 100: steps capped at lr*c = 50")
