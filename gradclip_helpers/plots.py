"""matplotlib figures for the course. Every function returns a ``Figure``.

Figures are built with ``matplotlib.figure.Figure`` (not ``pyplot``), so they
are never shown twice, never leak between cells, and tests can read the
plotted data back (``fig.axes[0].lines[0].get_ydata()``). In a notebook, a
function call as the last line of a cell displays the figure. Nothing here
trains.

One palette, defined here and nowhere else:

- ``METHOD_COLORS``: one colour per clipping method (``method_color(m)``),
  the same in every figure of the course and never used for anything else.
  Several runs of one method share its colour and differ in line style.
- ``neutral_colors(n)``: greys, for every other comparison (learning rates,
  thresholds, seeds, precisions, layer settings); ``THRESHOLD_COLOR`` and
  ``BEFORE_COLOR`` are greys too, told apart by their line style.

The method colours are Okabe & Ito's (2008) plus a violet for spike
skipping: distinct from each other and from the two role greys for readers
with any of the three colour-vision deficiencies (``tests/test_plots_widgets.py``
measures it). Figures are drawn at ``DPI`` with legends at ``LEGEND_FONTSIZE``
and whole-number ticks on step, epoch and layer axes; ``smooth=`` draws a
moving average over the per-step curve where a figure makes a claim about a
trend.

>>> method_color("global_norm")
'#009E73'
>>> neutral_colors(3)
['#333333', '#707070', '#ADADAD']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

METHOD_COLORS = {
    "none": "#000000",
    "value": "#E69F00",
    "norm": "#0072B2",
    "global_norm": "#009E73",
    "agc": "#CC79A7",
    "autoclip": "#D55E00",
    "zclip": "#56B4E9",
    "skip": "#6600CC",
}
METHOD_LABELS = {
    "none": "no clipping",
    "value": "value",
    "norm": "per-tensor norm",
    "global_norm": "global norm",
    "agc": "AGC",
    "autoclip": "AutoClip",
    "zclip": "ZClip",
    "skip": "spike skip",
}
# Line styles that tell apart several runs of one method (validation curves are dashed).
RUN_STYLES = ("-", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
THRESHOLD_COLOR = "#404040"  # dotted
BEFORE_COLOR = "#C4C4C4"  # the norm before clipping, thin
_NEUTRAL_RANGE = (0x33, 0xAD)  # dark to light grey: never black (no clipping), still visible on white
FIGSIZE = (7.0, 3.6)
WIDE_FIGSIZE = (10.0, 3.8)
DPI = 120
LEGEND_FONTSIZE = 9
Colors = str | Mapping[str, str]


def method_color(method: str) -> str:
    """The course's one colour for a clipping method (``"none"``, ``"value"``, ... ``"skip"``).

    >>> method_color("value")
    '#E69F00'
    """
    try:
        return METHOD_COLORS[method]
    except KeyError:
        raise ValueError(f"no colour for method {method!r}; the methods are {sorted(METHOD_COLORS)} "
                         "(use neutral_colors(n) for other comparisons)") from None


def neutral_colors(n: int) -> list[str]:
    """``n`` greys from dark to light, for comparisons that are not between clipping methods.

    >>> neutral_colors(1)
    ['#333333']
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    lo, hi = _NEUTRAL_RANGE
    levels = [lo] if n == 1 else np.linspace(lo, hi, n).round().astype(int).tolist()
    return [f"#{v:02X}{v:02X}{v:02X}" for v in levels]


def _figure(ncols: int = 1, figsize: tuple[float, float] = FIGSIZE) -> tuple[Figure, list]:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _integer_ticks(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _finish(ax, xlabel: str, ylabel: str, title: str | None = None, grid_axis: str = "both",
            legend_loc: str = "best") -> None:
    """The course's axis style: log y, labels, legend, light grid, whole-number step ticks, the title (the finding)."""
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if xlabel and xlabel.split()[-1] in ("step", "epoch") or xlabel.startswith("layer"):
        _integer_ticks(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=LEGEND_FONTSIZE, loc=legend_loc)
    ax.grid(True, axis=grid_axis, alpha=0.3)
    if title:
        ax.set_title(title)


def _styles(histories: Mapping[str, object], colors: Colors = "method") -> dict[str, tuple[str, object]]:
    """Each run's (colour, line style).

    ``colors="method"``: its method's colour (a grey for a method without
    one); runs repeating a colour get the next line style. ``"neutral"``:
    greys, one per run. A mapping: label -> colour, for the runs it names
    (the others as ``"method"``).
    """
    if colors == "neutral":
        return {name: (c, "-") for name, c in zip(histories, neutral_colors(len(histories)))}
    if not isinstance(colors, Mapping) and colors != "method":
        raise ValueError(f"colors must be 'method', 'neutral' or a mapping label -> colour, got {colors!r}")
    chosen = colors if isinstance(colors, Mapping) else {}
    methods = {name: getattr(h, "method", name) for name, h in histories.items()}
    unknown = [name for name in histories if name not in chosen and methods[name] not in METHOD_COLORS]
    greys = dict(zip(unknown, neutral_colors(len(unknown)))) if unknown else {}
    out, seen = {}, {}
    for name in histories:
        color = chosen.get(name) or greys.get(name) or METHOD_COLORS[methods[name]]
        k = seen.get(color, 0)
        seen[color] = k + 1
        out[name] = (color, RUN_STYLES[k % len(RUN_STYLES)])
    return out


def _label(name: str, history) -> str:
    method = getattr(history, "method", name)
    threshold = getattr(history, "threshold", None)
    base = name if name != method else METHOD_LABELS.get(method, method)
    return base if threshold is None or name != method else f"{base} ({threshold:.3g})"


def moving_average(values: Sequence[float], window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean over ``window`` steps: ``(steps, means)``, the mean of steps ``k - window + 1 .. k`` at ``k``.

    Non-finite values end the curve (a diverged run has no mean after it).

    >>> moving_average([1.0, 3.0, 5.0, 7.0], 2)
    (array([1, 2, 3]), array([2., 4., 6.]))
    """
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a whole number of steps >= 1, got {window!r}")
    y = np.asarray(values, dtype=float)
    bad = ~np.isfinite(y)
    y = y[:int(np.argmax(bad))] if bad.any() else y
    if len(y) < window:
        return np.arange(0), np.zeros(0)
    means = np.convolve(y, np.ones(int(window)) / window, mode="valid")
    return np.arange(window - 1, len(y)), means


def _step_curve(ax, y, color: str, label: str, ls="-", smooth: int | None = None, lw: float = 1.5) -> None:
    """Per-step values; with ``smooth``, faint, under their ``smooth``-step moving average."""
    y = np.asarray(y, dtype=float)
    x = np.arange(len(y))
    ok = np.isfinite(y)
    if smooth:
        ax.plot(x[ok], y[ok], color=color, ls=ls, lw=0.8, alpha=0.3)
        ax.plot(*moving_average(y, smooth), color=color, ls=ls, lw=lw + 0.3, label=f"{label}, {smooth}-step mean")
    else:
        ax.plot(x[ok], y[ok], color=color, ls=ls, lw=lw, label=label)


def plot_loss(histories: Mapping[str, object] | object, title: str | None = None,
              per: str = "step", ax=None, colors: Colors = "method", smooth: int | None = None) -> Figure:
    """Training loss of one or more ``History`` objects, log scale, divergence marked with an x.

    Args:
      histories: a ``History`` or a mapping label -> ``History``.
      title: the figure title (state the finding).
      per: ``"step"`` (every optimizer step) or ``"epoch"`` (train and validation means).
      colors: ``"method"`` (each run in its method's colour), ``"neutral"``
        (greys, when the runs differ in something other than the method) or
        a mapping label -> colour.
      smooth: with ``per="step"``, draw the ``smooth``-step moving average
        over the faint per-step loss (for claims about a trend).
    """
    if not isinstance(histories, Mapping):
        histories = {getattr(histories, "method", "run"): histories}
    if per not in ("step", "epoch"):
        raise ValueError(f"per must be 'step' or 'epoch', got {per!r}")
    fig, (ax,) = _figure() if ax is None else (ax.figure, [ax])
    styles = _styles(histories, colors)
    for name, h in histories.items():
        color, ls = styles[name]
        if per == "step":
            y = np.asarray(h.loss, dtype=float)
            _step_curve(ax, y, color, _label(name, h), ls=ls, smooth=smooth)
        else:
            y = np.asarray(h.epochs["loss"], dtype=float)
            x = np.arange(1, len(y) + 1)
            ok = np.isfinite(y)
            ax.plot(x[ok], y[ok], color=color, ls=ls, lw=1.5, marker="o", ms=3, label=_label(name, h))
            if "val_loss" in h.epochs:
                v = np.asarray(h.epochs["val_loss"], dtype=float)
                ok = np.isfinite(v)
                ax.plot(x[ok], v[ok], color=color, ls="--", lw=1.2, label=f"{_label(name, h)}, validation")
        diverged = getattr(h, "diverged_at", None)
        if diverged is not None and per == "step":
            finite = y[np.isfinite(y)]
            ax.plot([diverged], [finite[-1] if finite.size else 1.0], marker="x", ms=10, mew=2.5, color=color,
                    ls="none", label=f"{_label(name, h)}: non-finite at step {diverged}")
    _finish(ax, "optimizer step" if per == "step" else "epoch", "training loss (MSE)", title)
    return fig


def plot_grad_norms(history, threshold: float | None = None, title: str | None = None, ax=None,
                    smooth: int | None = None) -> Figure:
    """Global gradient norm per step before and after clipping, with the threshold line.

    Steps a spike skipper held back (``history.spike_skipped``) are marked in
    the ``"skip"`` colour. ``smooth``: draw ``smooth``-step moving averages
    over the faint per-step norms.
    """
    fig, (ax,) = _figure() if ax is None else (ax.figure, [ax])
    color = method_color(history.method)
    before = np.asarray(history.grad_norm, dtype=float)
    if history.method == "none":
        _step_curve(ax, before, color, "gradient norm (no clipping)", smooth=smooth)
    else:
        _step_curve(ax, before, BEFORE_COLOR, "before clipping", smooth=smooth, lw=1.2)
        _step_curve(ax, history.clipped_norm, color, "after clipping", smooth=smooth)
    skipped = np.asarray(getattr(history, "spike_skipped", None) if getattr(history, "spike_skipped", None)
                         is not None else np.zeros(len(before), bool), dtype=bool)
    if skipped.any():
        ax.plot(np.flatnonzero(skipped), before[skipped], "v", ms=6, color=METHOD_COLORS["skip"], ls="none",
                label=f"update skipped ({int(skipped.sum())} spikes)")
    threshold = history.threshold if threshold is None else threshold
    if threshold is not None and history.method in ("global_norm", "none"):
        ax.axhline(threshold, color=THRESHOLD_COLOR, ls=":", lw=1.5, label=f"threshold {threshold:.3g}")
    _finish(ax, "optimizer step", "global gradient norm",
            title or f"{METHOD_LABELS.get(history.method, history.method)}: clipped on "
                     f"{history.clip_fraction:.0%} of steps")
    return fig


def plot_layer_norms(norms_by_label: Mapping[str, Sequence[float]],
                     predicted: Mapping[str, float] | None = None, title: str | None = None) -> Figure:
    """Per-layer gradient norm against depth (layer 1 = input side), one grey per setting.

    ``predicted`` maps the same labels to a per-layer growth rate; it is drawn
    as a thick dashed line through the last layer's norm, above the measured
    points, so it stays visible where the two agree.

    >>> fig = plot_layer_norms({"a": [8.0, 4.0, 2.0]}, predicted={"a": 2.0})
    >>> [line.get_label() for line in fig.axes[0].lines]
    ['a', 'predicted x2.000 per layer']
    """
    fig, (ax,) = _figure()
    for (label, norms), color in zip(norms_by_label.items(), neutral_colors(len(norms_by_label))):
        norms = np.asarray(norms, dtype=float)
        layers = np.arange(1, len(norms) + 1)
        ax.plot(layers, norms, marker="o", ms=4, lw=0.8, color=color, label=label, zorder=2)
        if predicted and label in predicted:
            rate = predicted[label]
            ax.plot(layers, norms[-1] * rate ** (len(norms) - layers), ls=(0, (4, 2)), color=color, lw=2.2,
                    alpha=0.9, zorder=3, label=f"predicted x{rate:.3f} per layer")
    _finish(ax, "layer (1 = next to the input)", "||dL/dW|| of the layer", title)
    return fig


def plot_value_histogram(entries: np.ndarray, clip_value: float, bins: int = 60) -> Figure:
    """Distribution of gradient entries before and after value clipping at ``clip_value``."""
    before = np.ravel(np.asarray(entries, dtype=float))
    after = np.clip(before, -clip_value, clip_value)
    share = float(np.mean(np.abs(before) > clip_value))
    fig, (ax,) = _figure()
    lim = max(np.abs(before).max(), clip_value) * 1.05
    edges = np.linspace(-lim, lim, bins + 1)
    ax.hist(before, bins=edges, color=BEFORE_COLOR, alpha=0.7, label="before")
    ax.hist(after, bins=edges, color=METHOD_COLORS["value"], alpha=0.7, label=f"after clip at ±{clip_value:.3g}")
    for x in (-clip_value, clip_value):
        ax.axvline(x, color=THRESHOLD_COLOR, ls=":", lw=1.5)
    _finish(ax, "gradient entry", "count", f"{share:.0%} of entries pile up at ±{clip_value:.3g}")
    return fig


def plot_clip_2d(grad: Sequence[float], threshold: float) -> Figure:
    """One 2-D gradient under value clipping (a box) and norm clipping (a circle).

    The two coordinates stand for two one-entry tensors, so per-tensor norm
    clipping equals value clipping here; global-norm clipping scales the arrow
    back along its own direction.
    """
    g = np.asarray(grad, dtype=float)
    if g.shape != (2,):
        raise ValueError(f"grad must have 2 entries, got shape {g.shape}")
    value = np.clip(g, -threshold, threshold)
    norm = np.linalg.norm(g)
    scaled = g * threshold / max(norm, threshold)
    fig, (ax,) = _figure(figsize=(4.6, 4.2))
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(threshold * np.cos(t), threshold * np.sin(t), color=METHOD_COLORS["global_norm"], ls=":", lw=1)
    ax.plot(threshold * np.array([-1, 1, 1, -1, -1]), threshold * np.array([-1, -1, 1, 1, -1]),
            color=METHOD_COLORS["value"], ls=":", lw=1)
    for vec, color, label in [
        (g, BEFORE_COLOR, f"gradient, norm {norm:.2f}"),
        (value, METHOD_COLORS["value"], "value / per-tensor clip"),
        (scaled, METHOD_COLORS["global_norm"], "global-norm clip"),
    ]:
        ax.annotate("", xy=vec, xytext=(0, 0), arrowprops=dict(arrowstyle="-|>", color=color, lw=2))
        ax.plot([], [], color=color, lw=2, label=label)
    angle = np.degrees(np.arccos(np.clip(value @ g / (np.linalg.norm(value) * norm + 1e-30), -1, 1)))
    lim = max(np.abs(g).max(), threshold) * 1.15
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="#CCCCCC", lw=0.8)
    ax.axvline(0, color="#CCCCCC", lw=0.8)
    ax.legend(fontsize=LEGEND_FONTSIZE, loc="lower left")
    ax.set_title(f"value clipping turns the gradient by {angle:.1f}°")
    return fig


def plot_norm_traces(histories: Mapping[str, object], threshold: float | None = None,
                     title: str | None = None, colors: Colors = "method", smooth: int | None = None) -> Figure:
    """Side by side: loss per step, and the global norm before clipping per step, for several runs.

    ``colors`` and ``smooth`` as in ``plot_loss`` (``smooth`` applies to both panels).
    """
    fig, (ax_loss, ax_norm) = _figure(ncols=2, figsize=WIDE_FIGSIZE)
    plot_loss(histories, ax=ax_loss, colors=colors, smooth=smooth)
    styles = _styles(histories, colors)
    for name, h in histories.items():
        color, ls = styles[name]
        _step_curve(ax_norm, h.grad_norm, color, _label(name, h), ls=ls, smooth=smooth, lw=1.2)
    if threshold is not None:
        ax_norm.axhline(threshold, color=THRESHOLD_COLOR, ls=":", lw=1.5, label=f"threshold {threshold:.3g}")
    _finish(ax_norm, "optimizer step", "global norm before clipping")
    if title:
        fig.suptitle(title)
    return fig


def plot_tensor_norms(norms_by_method: Mapping[str, Sequence[float]], names: Sequence[str],
                      threshold: float | None = None, title: str | None = None) -> Figure:
    """Grouped bars: the L2 norm of every variable's gradient, one colour per clipping method.

    Math: bar ``k`` of a group is ``||g_k||``. Per-tensor clipping caps each
    bar at ``c`` on its own (the ratios between bars change, and so does the
    direction); global clipping multiplies every bar by the same
    ``c / max(||g||, c)`` (the ratios and the direction are kept).

    Args:
      norms_by_method: a method name (``"none"``, ``"norm"``, ``"global_norm"``)
        or any other label (drawn in a grey) -> one norm per variable, in the
        order of ``names``.
      names: the variable names, e.g. ``[v.path for v in model.trainable_variables]``.
      threshold: drawn as a dotted line when given.
      title: the figure title (state the finding).

    Returns:
      A ``Figure``, log-scale y axis, one bar container per entry of ``norms_by_method``.

    >>> fig = plot_tensor_norms({"none": [3.0, 4.0], "norm": [1.0, 1.0]}, ["kernel", "bias"], threshold=1.0)
    >>> [len(bars) for bars in fig.axes[0].containers]
    [2, 2]
    """
    names = list(names)
    x = np.arange(len(names))
    width = 0.8 / max(len(norms_by_method), 1)
    others = [label for label in norms_by_method if label not in METHOD_COLORS]
    greys = dict(zip(others, neutral_colors(len(others)))) if others else {}
    fig, (ax,) = _figure()
    for i, (method, norms) in enumerate(norms_by_method.items()):
        norms = np.asarray(norms, dtype=float)
        if norms.shape != (len(names),):
            raise ValueError(f"norms_by_method[{method!r}] has {norms.size} norms for {len(names)} names")
        offset = (i - (len(norms_by_method) - 1) / 2) * width
        color = greys.get(method) or method_color(method)
        ax.bar(x + offset, norms, width, color=color, label=METHOD_LABELS.get(method, method))
    if threshold is not None:
        ax.axhline(threshold, color=THRESHOLD_COLOR, ls=":", lw=1.5, label=f"threshold {threshold:.3g}")
    ax.set_xticks(x, names, rotation=15, ha="right", fontsize=LEGEND_FONTSIZE)
    _finish(ax, "", "gradient norm of the variable", title, grid_axis="y")
    return fig


def plot_step_lengths(histories: Mapping[str, object], learning_rates: Mapping[str, float] | float,
                      title: str | None = None) -> Figure:
    """Side by side: loss per step, and the plain-SGD step length ``lr * ||clipped g||`` per step.

    Math: an SGD step (no momentum) moves the weights by ``lr * g_hat``, so its
    length is ``lr * ||g_hat||``, at most ``lr * c`` under global-norm clipping
    at ``c``: the threshold is a cap on the step length, drawn dotted for each
    clipped run. One grey per run (the runs differ in learning rate and
    threshold, not in method).

    Args:
      histories: label -> ``History`` (uses ``loss``, ``clipped_norm``,
        ``method``, ``threshold``).
      learning_rates: label -> learning rate, or one learning rate for all runs.
      title: the figure title (state the finding).

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(loss=np.array([4.0, 2.0]), clipped_norm=np.array([5.0, 5.0]),
    ...                       method="global_norm", threshold=5.0)
    >>> fig = plot_step_lengths({"lr 0.01": run}, 0.01)
    >>> fig.axes[1].lines[0].get_ydata().tolist()
    [0.05, 0.05]
    """
    fig, (ax_loss, ax_step) = _figure(ncols=2, figsize=WIDE_FIGSIZE)
    for (label, h), color in zip(histories.items(), neutral_colors(len(histories))):
        lr = learning_rates[label] if isinstance(learning_rates, Mapping) else learning_rates
        loss = np.asarray(h.loss, dtype=float)
        step = lr * np.asarray(h.clipped_norm, dtype=float)
        for ax, y in ((ax_loss, loss), (ax_step, step)):
            ok = np.isfinite(y)
            ax.plot(np.arange(len(y))[ok], y[ok], color=color, lw=1.2, label=label)
        if h.method == "global_norm" and h.threshold is not None:
            ax_step.axhline(lr * h.threshold, color=color, ls=":", lw=1.5, label=f"cap lr x c = {lr * h.threshold:.3g}")
    _finish(ax_loss, "optimizer step", "training loss (MSE)")
    _finish(ax_step, "optimizer step", "SGD step length lr x ||clipped g||")
    if title:
        fig.suptitle(title)
    return fig


def plot_cliff(surface, runs: Mapping[str, object] | None = None, max_paths: int = 40,
               longer_than: float = 5.0, tol: float = 0.05, title: str | None = None) -> Figure:
    """Pascanu's loss surface ``E(w, b)`` with gradient-descent paths drawn on it, one panel per run.

    Math: the background is ``log10 E(w, b)``; a path is ``(w_k, b_k)`` for
    ``k = 0 .. steps``. A step longer than ``longer_than`` (thrown off the wall)
    is drawn thick and dashed in the run's colour; panel titles give the share of runs with
    such a step and the share ending with ``E < tol``.

    Args:
      surface: an object with ``w`` (n_w,), ``b`` (n_b,) and ``loss`` (n_b, n_w),
        e.g. ``gradclip_helpers.pascanu.loss_surface()``.
      runs: label -> trajectories with ``w``, ``b``, ``loss`` arrays of shape
        ``(steps + 1, runs)`` and a ``method`` (``"none"`` or ``"global_norm"``),
        e.g. ``pascanu.descend(...)``; None draws the surface alone.
      max_paths: paths drawn per panel (the first runs; the shares count all).
      longer_than: the step length that counts as a catapult.
      tol: the final loss below which a run counts as converged.
      title: the figure title (state the finding).

    Returns:
      A ``Figure`` with one axes per run (or one for the surface), plus a colour bar.

    >>> from types import SimpleNamespace
    >>> surface = SimpleNamespace(w=np.array([3.0, 7.0]), b=np.array([-4.0, -1.0]),
    ...                           loss=np.array([[0.3, 0.3], [0.01, 0.01]]))
    >>> run = SimpleNamespace(w=np.array([[5.0], [5.0], [9.0]]), b=np.array([[-3.0], [-2.0], [5.0]]),
    ...                       loss=np.array([[0.3], [0.3], [0.09]]), method="none")
    >>> fig = plot_cliff(surface, {"no clipping": run})
    >>> fig.axes[0].get_title()
    'no clipping: 100% catapulted, 0% end with E < 0.05'
    """
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    panels = dict(runs) if runs else {"": None}
    fig, axes = _figure(ncols=len(panels), figsize=(4.6 * len(panels) + 1.0, 4.0))
    log_loss = np.log10(np.maximum(np.asarray(surface.loss, dtype=float), 1e-12))
    # Light greys only (white to mid-grey), so the paths stay visible on the surface.
    greys = ListedColormap(colormaps["Greys"](np.linspace(0.0, 0.6, 256)))
    mesh = None
    for ax, (label, run) in zip(axes, panels.items()):
        mesh = ax.pcolormesh(surface.w, surface.b, log_loss, cmap=greys, shading="nearest",
                             vmin=np.percentile(log_loss, 1), vmax=log_loss.max(), rasterized=True)
        ax.set_xlim(float(np.min(surface.w)), float(np.max(surface.w)))
        ax.set_ylim(float(np.min(surface.b)), float(np.max(surface.b)))
        ax.set_xlabel("recurrent weight w")
        ax.set_ylabel("bias b")
        if run is None:
            continue
        w, b = np.asarray(run.w, dtype=float), np.asarray(run.b, dtype=float)
        final = np.asarray(run.loss, dtype=float)[-1]
        jumps = np.hypot(np.diff(w, axis=0), np.diff(b, axis=0)) > longer_than
        color = method_color(getattr(run, "method", "none"))
        shown = min(max_paths, w.shape[1])
        for i in range(shown):
            ax.plot(w[:, i], b[:, i], color=color, lw=0.9, alpha=0.8)
            for k in np.flatnonzero(jumps[:, i]):
                ax.plot(w[k:k + 2, i], b[k:k + 2, i], color=color, ls="--", lw=2.0)
        ax.plot(w[0, :shown], b[0, :shown], "o", ms=3, color=color, label=f"start ({shown} of {w.shape[1]} runs)")
        ax.plot([], [], color=color, lw=1.2, label="gradient-descent path")
        ax.plot([], [], color=color, ls="--", lw=2.0, label=f"step longer than {longer_than:g}")
        ax.legend(fontsize=LEGEND_FONTSIZE, loc="lower right")
        ax.set_title(f"{label}: {np.mean(jumps.any(axis=0)):.0%} catapulted, "
                     f"{np.mean(final < tol):.0%} end with E < {tol:g}", fontsize=10)
    fig.colorbar(mesh, ax=axes, label="log10 E(w, b)", shrink=0.9)
    if title:
        fig.suptitle(title)
    return fig


def plot_training_progress(history, changes: Sequence[tuple[int, str, float | None]] = (),
                           title: str | None = None, steps: int | None = None) -> Figure:
    """Side by side for a run in progress: loss per step, and the global norm before and after clipping.

    Math: global-norm clipping at ``c`` applies ``g * min(1, c / ||g||)``, so
    the norm after clipping is ``min(||g||, c)``: it sits on the threshold
    line whenever the norm before is above it. The method and threshold can
    change during a run (``TrainingDashboard``), so the threshold is drawn
    as the value in force at each step (for global-norm steps only: the
    per-tensor and value thresholds do not bound the global norm), and a
    dashed vertical line marks each change. The figure uses a fixed layout,
    cheaper to redraw many times than the other plots' constrained layout.

    Args:
      history: a ``History`` so far (uses ``loss``, ``grad_norm``,
        ``clipped_norm``, ``method``, ``threshold``, ``diverged_at``).
      changes: ``(first_step, method, threshold)`` for each setting, in
        order of ``first_step``; empty: the history's own method and
        threshold from step 0.
      title: the figure title (state the finding).
      steps: the planned number of steps, if known: both x axes span it, so
        a run in progress fills them from the left, and the threshold in
        force is drawn to the end.

    Returns:
      A ``Figure`` with two axes: ``axes[0]`` the loss (as ``plot_loss``),
      ``axes[1]`` the norm before (``lines[0]``) and after (``lines[1:]``,
      one line per setting, in its method's colour) clipping, the
      thresholds as a ``LineCollection`` in ``collections``.

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(loss=np.array([4.0, 2.0, 1.0]), grad_norm=np.array([9.0, 8.0, 1.0]),
    ...                       clipped_norm=np.array([5.0, 2.0, 1.0]), method="global_norm",
    ...                       threshold=2.0, diverged_at=None)
    >>> fig = plot_training_progress(run, [(0, "global_norm", 5.0), (1, "global_norm", 2.0)])
    >>> [segment[:, 1].tolist() for segment in fig.axes[1].collections[0].get_segments()]
    [[5.0, 5.0], [2.0, 2.0]]
    """
    fig = Figure(figsize=WIDE_FIGSIZE, dpi=DPI)
    fig.subplots_adjust(left=0.085, right=0.99, bottom=0.14, top=0.86, wspace=0.24)
    ax_loss, ax_norm = fig.subplots(1, 2)
    plot_loss({"training loss": history}, ax=ax_loss)
    before = np.asarray(history.grad_norm, dtype=float)
    after = np.asarray(history.clipped_norm, dtype=float)
    x = np.arange(len(before))
    ok = np.isfinite(before)
    ax_norm.plot(x[ok], before[ok], color=BEFORE_COLOR, lw=1.2, label="before clipping")
    changes = list(changes) or [(0, history.method, history.threshold)]
    ends = [start for start, _, _ in changes[1:]] + [max(len(before), changes[-1][0] + 1, steps or 0)]
    several = len({method for _, method, _ in changes}) > 1
    shown = set()
    for (start, method, _), end in zip(changes, ends):  # the norm after clipping, in the colour of the method in force
        xs, ys = x[start:end + 1], after[start:end + 1]  # + 1: joined to the next setting's first step
        ok = np.isfinite(ys)
        if not ok.any():
            continue
        label = f"after clipping ({METHOD_LABELS.get(method, method)})" if several else "after clipping"
        ax_norm.plot(xs[ok], ys[ok], color=METHOD_COLORS.get(method, neutral_colors(1)[0]), lw=1.2,
                     label="_nolegend_" if label in shown else label)
        shown.add(label)
    levels = [(start, end, t) for (start, method, t), end in zip(changes, ends)
              if method == "global_norm" and t is not None]
    if levels:
        ax_norm.hlines([t for _, _, t in levels], [s for s, _, _ in levels], [e for _, e, _ in levels],
                       colors=THRESHOLD_COLOR, linestyles=":", lw=1.5, label="threshold (global norm)")
    for start, _, _ in changes[1:]:
        ax_norm.axvline(start, color=THRESHOLD_COLOR, ls="--", lw=0.8)
    _finish(ax_norm, "optimizer step", "global gradient norm")
    if steps:
        for ax in (ax_loss, ax_norm):
            ax.set_xlim(0, max(steps, len(before)))
    if title:
        fig.suptitle(title)
    return fig
