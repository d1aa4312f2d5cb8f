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


def test_runs_sharing_a_method_share_its_colour_in_distinct_line_styles(runs):
    fig = gh.plot_loss({"sgd": runs["global_norm"], "adam": runs["global_norm"]})
    first, second = fig.axes[0].lines[:2]
    assert first.get_color() == second.get_color() == gh.METHOD_COLORS["global_norm"]
    assert first.get_linestyle() != second.get_linestyle()


def test_unclipped_norm_plot_has_one_line(runs):
    fig = gh.plot_grad_norms(runs["none"])
    assert [line.get_label() for line in fig.axes[0].lines][:1] == ["gradient norm (no clipping)"]


# ---------------------------------------------------------------- one palette, legible figures
# Every figure the package draws is drawn here: each plot_* function, each explorer and the
# dashboard. Its data artists may use the colours of the methods it shows and greys, nothing
# else, so a method colour never stands for anything else (issue 14).

from itertools import combinations  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from matplotlib.colors import to_hex, to_rgba  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from gradclip_helpers import dashboard, widgets  # noqa: E402


def _history(method, steps=12, threshold=1.0, diverge=False, seed=0):
    rng = np.random.default_rng(seed)
    norm = np.exp(rng.standard_normal(steps)) * 5
    loss = np.exp(-np.arange(steps) / 5) * 100
    if diverge:
        loss[-3:], norm[-3:] = np.inf, np.nan
    clipped_norm = norm if method == "none" else np.minimum(norm, threshold)
    return gh.History(loss=loss, grad_norm=norm, clipped_norm=clipped_norm, clipped=norm > threshold,
                      applied=np.ones(steps, bool), layer_norms=None, variable_names=["w"],
                      epochs={"loss": loss[::4], "val_loss": loss[::4] * 1.1}, method=method,
                      threshold=None if method == "none" else threshold)


def _trajectories(method):
    w = np.array([[5.0, 4.0], [5.2, 4.1], [9.0, 4.2]])
    return SimpleNamespace(w=w, b=np.array([[-3.0, -2.0], [-2.9, -2.1], [5.0, -2.2]]),
                           loss=np.array([[0.3, 0.2], [0.3, 0.1], [0.09, 0.01]]), method=method)


SURFACE = SimpleNamespace(w=np.linspace(3, 7, 5), b=np.linspace(-4, -1, 4), loss=np.full((4, 5), 0.1))
ALL_METHODS = list(gh.METHOD_COLORS)


def _skipping_history():
    h = _history("global_norm")
    h.spike_skipped = np.zeros(h.steps, bool)
    h.spike_skipped[[3, 7]] = True
    return h


def _progress_figure():
    h = _history("value")
    return gh.plot_training_progress(h, [(0, "global_norm", 1.0), (6, "value", 1.0)], steps=16)


# name -> (a function drawing figures, the methods they show)
FIGURES = {
    "plot_loss": (lambda: gh.plot_loss({m: _history(m, diverge=m == "none") for m in ALL_METHODS}), ALL_METHODS),
    "plot_loss per epoch": (lambda: gh.plot_loss({"a": _history("agc"), "b": _history("agc", seed=1)},
                                                 per="epoch"), ["agc"]),
    "plot_loss neutral, smoothed": (lambda: gh.plot_loss({"lr 0.1": _history("global_norm"),
                                                          "lr 0.01": _history("global_norm", seed=1)},
                                                         colors="neutral", smooth=4), []),
    "plot_grad_norms": (lambda: gh.plot_grad_norms(_skipping_history(), smooth=3), ["global_norm", "skip"]),
    "plot_grad_norms none": (lambda: gh.plot_grad_norms(_history("none"), threshold=2.0), ["none"]),
    "plot_layer_norms": (lambda: gh.plot_layer_norms({"g = 1": [1.0, 1.0, 1.0], "g = 2": [8.0, 4.0, 2.0]},
                                                     predicted={"g = 2": 2.0}), []),
    "plot_value_histogram": (lambda: gh.plot_value_histogram(np.linspace(-3, 3, 50), 1.0), ["value"]),
    "plot_clip_2d": (lambda: gh.plot_clip_2d([3.0, 1.0], 1.0), ["value", "global_norm"]),
    "plot_norm_traces": (lambda: gh.plot_norm_traces(
        {"none": _history("none"), "AGC": _history("agc"), "AGC, all layers": _history("agc", seed=2),
         "zclip": _history("zclip")}, threshold=1.0, smooth=3), ["none", "agc", "zclip"]),
    "plot_norm_traces neutral": (lambda: gh.plot_norm_traces(
        {"float32": _history("global_norm"), "mixed": _history("global_norm", seed=3)}, threshold=1.0,
        colors="neutral"), []),
    "plot_tensor_norms": (lambda: gh.plot_tensor_norms(
        {"none": [3.0, 4.0], "global_norm": [1.0, 1.2], "clip each micro-batch": [0.5, 0.6]}, ["kernel", "bias"],
        threshold=1.0), ["none", "global_norm"]),
    "plot_step_lengths": (lambda: gh.plot_step_lengths({"lr 0.1": _history("global_norm"),
                                                        "lr 0.01": _history("global_norm", seed=4)},
                                                       {"lr 0.1": 0.1, "lr 0.01": 0.01}), []),
    "plot_cliff": (lambda: gh.plot_cliff(SURFACE, {"free": _trajectories("none"),
                                                   "clipped": _trajectories("global_norm")}),
                   ["none", "global_norm"]),
    "plot_training_progress": (_progress_figure, ["global_norm", "value"]),
    "layer_norm_explorer": (lambda: gh.layer_norm_explorer(depth=5, weight_scale=2.0, width=8).figures, []),
    "value_clip_explorer": (lambda: gh.value_clip_explorer(np.linspace(-3, 3, 50)).figures, ["value", "global_norm"]),
    "threshold_explorer": (lambda: gh.threshold_explorer(lambda c: _history("global_norm", threshold=c),
                                                         baseline=_history("none")).figures,
                           ["none", "global_norm"]),
    "cliff_explorer": (lambda: gh.cliff_explorer(*gh.pascanu.random_starts(4, seed=0), steps=5,
                                                 surface=SURFACE).figures, ["none", "global_norm"]),
    "plot_loss_spikes": (lambda: gh.plot_loss_spikes(_history("global_norm", steps=20), [4, 9], smooth=3),
                         ["global_norm"]),
    "plot_adam_rms": (lambda: gh.plot_adam_rms({"none": (_history("none"), np.linspace(1, 2, 12)),
                                                "clipped": (_history("global_norm"), np.linspace(1, 1.5, 12))},
                                               mark=5), ["none", "global_norm"]),
    "plot_quartic": (lambda: gh.plot_quartic({"GD": ("none", np.array([3.0, 7.8, np.inf])),
                                              "clipped GD": ("global_norm", np.array([3.0, 2.0, 1.5]))}),
                     ["none", "global_norm"]),
    "ThresholdSuggestion.plot": (lambda: gh.suggest_threshold(np.exp(np.linspace(0, 2, 50))).plot(), ["none"]),
    "TrainingDashboard": (lambda: dashboard.TrainingDashboard(
        lambda: gh.seed_mlp(4, seed=0), (np.ones((32, 4), "float32"), np.ones((32, 1), "float32")),
        method="global_norm", threshold=1.0, epochs=1).figure, ["global_norm"]),
}


def _is_grey(color: str) -> bool:
    return color[1:3] == color[3:5] == color[5:7] and color != "#000000"


def _data_colors(fig) -> set[str]:
    """The colours of every line, bar, marker, line collection and arrow drawn on the figure's axes."""
    found = []
    for ax in fig.axes:
        for line in ax.lines:
            found += [line.get_color(), line.get_markerfacecolor(), line.get_markeredgecolor()]
        for patch in ax.patches:
            found += [patch.get_facecolor(), patch.get_edgecolor()] if patch.get_fill() else [patch.get_edgecolor()]
        for coll in ax.collections:
            if type(coll).__name__ in ("QuadMesh", "PolyQuadMesh"):  # the colour-mapped loss surface
                continue
            if len(coll.get_paths()) or getattr(coll, "get_segments", lambda: [])():
                found += list(coll.get_edgecolor()) + list(coll.get_facecolor())
        for text in ax.texts:
            if getattr(text, "arrow_patch", None) is not None:
                found += [text.arrow_patch.get_edgecolor(), text.arrow_patch.get_facecolor()]
    return {to_hex(c) for c in found if not isinstance(c, str) or c.lower() not in ("none", "auto")
            if to_rgba(c)[3] > 0}


def _figures(name):
    made = FIGURES[name][0]()
    return [made] if isinstance(made, Figure) else list(made)


def test_every_figure_of_the_package_is_in_the_palette_check():
    """Every plot_* function, *_explorer and class with a plot method in any module of the package has a case."""
    import importlib
    import inspect
    import pkgutil

    drawers = set()
    for info in pkgutil.iter_modules(gh.__path__):
        module = importlib.import_module(f"gradclip_helpers.{info.name}")
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue  # imported from elsewhere: checked where it is defined
            if inspect.isfunction(obj) and (name.startswith("plot_") or name.endswith("_explorer")):
                drawers.add(name)
            elif inspect.isclass(obj) and callable(getattr(obj, "plot", None)):
                drawers.add(f"{name}.plot")
    assert drawers <= {name.split()[0] for name in FIGURES}, drawers - {name.split()[0] for name in FIGURES}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_keeps_the_palette(name):
    methods = FIGURES[name][1]
    allowed = {gh.METHOD_COLORS[m].lower() for m in methods}
    drawn = set()
    for fig in _figures(name):
        colors = _data_colors(fig)
        stray = {c for c in colors if c not in allowed and not _is_grey(c)}
        assert not stray, f"{name}: colours outside the palette or of a method not shown: {stray}"
        drawn |= colors
    assert allowed <= drawn, f"{name}: methods shown but not in their colour: {allowed - drawn}"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_legible(name):
    for fig in _figures(name):
        assert fig.dpi >= 110, (name, fig.dpi)
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None:
                assert min(t.get_fontsize() for t in legend.get_texts()) >= 9, name
            if ax.get_xlabel().split()[-1:] in (["step"], ["epoch"]) or ax.get_xlabel().startswith("layer"):
                locator = ax.xaxis.get_major_locator()
                assert isinstance(locator, MaxNLocator) and locator._integer, f"{name}: {ax.get_xlabel()}"


def test_each_method_is_drawn_in_its_colour():
    fig = gh.plot_loss({m: _history(m) for m in ALL_METHODS})
    by_label = {line.get_label(): line.get_color() for line in fig.axes[0].lines}
    for method in ALL_METHODS:
        label = gh.plots.METHOD_LABELS[method]
        assert any(k.startswith(label) and c == gh.METHOD_COLORS[method] for k, c in by_label.items()), method
    after = [line.get_color() for line in _progress_figure().axes[1].lines[1:] if line.get_linestyle() == "-"]
    assert after == [gh.METHOD_COLORS["global_norm"], gh.METHOD_COLORS["value"]]  # the method in force at each step


# Machado, Oliveira & Fernandes (2009), severity 1, applied to linear RGB.
CVD = {
    "normal vision": np.eye(3),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _lab(color: str, vision: str) -> np.ndarray:
    rgb = np.array(to_rgba(color)[:3])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(CVD[vision] @ linear, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ linear
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_method_colours_are_distinct_for_colour_blind_readers():
    """CIELAB distance >= 15 between any two method colours, and from the greys drawn beside them
    (the norm before clipping, the threshold), for normal vision and the three dichromacies."""
    roles = {"before clipping": gh.plots.BEFORE_COLOR, "threshold": gh.plots.THRESHOLD_COLOR}
    for vision in CVD:
        for (m1, c1), (m2, c2) in combinations({**gh.METHOD_COLORS, **roles}.items(), 2):
            distance = np.linalg.norm(_lab(c1, vision) - _lab(c2, vision))
            assert distance >= 15, f"{m1} and {m2} look alike under {vision} (Delta E {distance:.1f})"


def test_neutral_colours_are_greys_never_method_colours():
    for n in (1, 2, 5, 9):
        greys = gh.neutral_colors(n)
        assert len(set(greys)) == n and all(_is_grey(c) for c in greys)
    assert not set(gh.neutral_colors(9)) & set(gh.METHOD_COLORS.values())
    assert gh.method_color("zclip") == gh.METHOD_COLORS["zclip"]
    with pytest.raises(ValueError, match="neutral_colors"):
        gh.method_color("lr 0.1")


def test_moving_average_is_a_trailing_mean_that_stops_at_divergence():
    steps, means = gh.plots.moving_average([1.0, 3.0, 5.0, np.nan, 9.0], 2)
    assert steps.tolist() == [1, 2] and means.tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match="window"):
        gh.plots.moving_average([1.0], 0)


# ---------------------------------------------------------------- widgets leave a static image

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _displayed(monkeypatch, widget, attached: bool) -> list:
    shown = []
    monkeypatch.setattr(widgets, "frontend_attached", lambda: attached)
    monkeypatch.setattr(widgets, "display", lambda obj, raw=False: shown.append(obj))
    widget._ipython_display_()
    return shown


def test_explorer_leaves_its_first_figures_as_png_images_without_a_browser(monkeypatch):
    import base64

    explorer = gh.value_clip_explorer(np.linspace(-3, 3, 50), clip_value=1.0)
    shown = _displayed(monkeypatch, explorer, attached=False)
    assert WIDGET_MIME in shown[0] and shown[0]["text/plain"].startswith("FigureExplorer(clip_value=1)")
    images = shown[1:]
    assert len(images) == len(explorer.figures) == 2
    for image, fig in zip(images, explorer.figures):
        data = base64.b64decode(image["image/png"])
        assert data.startswith(b"\x89PNG")
        width = int.from_bytes(data[16:20], "big")
        assert width == round(fig.get_figwidth() * fig.dpi)
        assert image["text/plain"] == f"<Figure: {widgets.figure_title(fig)}>"
    assert "±1" in images[1]["text/plain"]


def test_explorer_in_a_browser_shows_the_widget_alone(monkeypatch):
    explorer = gh.value_clip_explorer(np.linspace(-3, 3, 50), clip_value=1.0)
    shown = _displayed(monkeypatch, explorer, attached=True)
    assert len(shown) == 1 and WIDGET_MIME in shown[0]
