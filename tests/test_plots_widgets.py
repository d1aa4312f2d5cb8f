"""Figures carry the right data; moving a widget control redraws."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from matplotlib.figure import Figure

import gradclip_helpers as gh


@pytest.fixture(scope="module")
def runs():
    data = gh.make_regression(n_samples=128, seed=0)
    xy = (data.x_train, data.y_train)
    return {
        "none": gh.train(gh.seed_mlp(20, seed=0), xy, optimizer=keras.optimizers.SGD(0.01), epochs=5, progress=False),
        "global_norm": gh.train(gh.seed_mlp(20, seed=0), xy, optimizer=keras.optimizers.SGD(0.01),
                                clipper="global_norm", threshold=5.0, epochs=5, progress=False),
    }


def test_plot_loss_marks_divergence(runs):
    fig = gh.plot_loss(runs, title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    labels = [line.get_label() for line in ax.lines]
    assert any("non-finite at step" in label for label in labels)
    clipped_line = ax.lines[-1]
    np.testing.assert_allclose(clipped_line.get_ydata(), runs["global_norm"].loss)
    assert clipped_line.get_color() == gh.METHOD_COLORS["global_norm"]


def test_plot_loss_per_epoch_and_bad_argument(runs):
    assert len(gh.plot_loss(runs["global_norm"], per="epoch").axes[0].lines) == 1
    with pytest.raises(ValueError, match="per must be"):
        gh.plot_loss(runs, per="batch")


def test_plot_grad_norms_draws_threshold(runs):
    fig = gh.plot_grad_norms(runs["global_norm"])
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), runs["global_norm"].grad_norm)
    assert ax.lines[2].get_ydata()[0] == 5.0
    assert "100%" in ax.get_title()


def test_plot_norm_traces_two_panels(runs):
    fig = gh.plot_norm_traces(runs, threshold=5.0, title="x")
    assert len(fig.axes) == 2 and fig.axes[1].lines[-1].get_ydata()[0] == 5.0


def test_plot_layer_norms_with_prediction():
    fig = gh.plot_layer_norms({"a": [8.0, 4.0, 2.0]}, predicted={"a": 2.0})
    measured, predicted = fig.axes[0].lines
    np.testing.assert_allclose(predicted.get_ydata(), [8.0, 4.0, 2.0])


def test_plot_value_histogram_and_clip_2d():
    fig = gh.plot_value_histogram(np.array([-3.0, 0.5, 2.0, 0.1]), 1.0)
    assert "50%" in fig.axes[0].get_title()
    fig = gh.plot_clip_2d([3.0, 1.0], 1.0)
    assert "turns the gradient by 26.6°" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match="2 entries"):
        gh.plot_clip_2d([1.0, 2.0, 3.0], 1.0)


def test_layer_norm_explorer_redraws_on_slider_move():
    w = gh.layer_norm_explorer(depth=10, weight_scale=2.0, width=32)
    before = w.figures[0].axes[0].lines[0].get_ydata().copy()
    w.controls["weight_scale"].value = 3.0
    assert w.draw_count == 2
    after = w.figures[0].axes[0].lines[0].get_ydata()
    assert after[0] / after[-1] > before[0] / before[-1]
    w.controls["depth"].value = 12
    assert len(w.figures[0].axes[0].lines[0].get_ydata()) == 12


def test_value_clip_explorer_redraws_both_figures():
    w = gh.value_clip_explorer(np.linspace(-5, 5, 101), clip_value=1.0)
    assert len(w.figures) == 2
    w.controls["clip_value"].value = 2.0
    assert w.draw_count == 2 and "±2" in w.figures[1].axes[0].get_title()


def test_threshold_explorer_retrains_and_errors_are_shown(runs):
    calls = []

    def run(threshold):
        calls.append(threshold)
        if threshold > 100:
            raise ValueError("too large for this demo")
        return runs["global_norm"]

    w = gh.threshold_explorer(run, threshold=5.0, baseline=runs["none"])
    w.controls["threshold"].value = 10.0
    assert calls == [5.0, 10.0] and w.draw_count == 2
    shown = w.figures
    w.controls["threshold"].value = 500.0
    assert w.error and "too large" in w.message.value
    assert w.figures is shown  # previous figures kept


def test_runs_sharing_a_method_get_distinct_colours(runs):
    fig = gh.plot_loss({"sgd": runs["none"], "adam": runs["none"]})
    assert len({fig.axes[0].lines[0].get_color(), fig.axes[0].lines[2].get_color()}) == 2


def test_unclipped_norm_plot_has_one_line(runs):
    fig = gh.plot_grad_norms(runs["none"])
    assert [line.get_label() for line in fig.axes[0].lines][:1] == ["gradient norm (no clipping)"]
