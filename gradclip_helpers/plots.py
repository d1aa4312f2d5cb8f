"""matplotlib figures for the course. Every function returns a ``Figure``.

Figures are built with ``matplotlib.figure.Figure`` (not ``pyplot``), so they
are never shown twice, never leak between cells, and tests can read the
plotted data back (``fig.axes[0].lines[0].get_ydata()``). In a notebook, a
function call as the last line of a cell displays the figure. One colour per
clipping method (Okabe-Ito, distinct for colour-blind readers) is used in every
figure. Nothing here trains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

# Okabe & Ito (2008) palette.
METHOD_COLORS = {
    "none": "#000000",
    "value": "#E69F00",
    "norm": "#0072B2",
    "global_norm": "#009E73",
    "agc": "#CC79A7",
    "autoclip": "#D55E00",
    "zclip": "#56B4E9",
}
METHOD_LABELS = {
    "none": "no clipping",
    "value": "value",
    "norm": "per-tensor norm",
    "global_norm": "global norm",
}
_EXTRA_COLORS = ["#882255", "#44AA99", "#999999", "#F0E442"]
FIGSIZE = (7.0, 3.6)
DPI = 80


def method_color(method: str, index: int = 0) -> str:
    """The course's colour for a clipping method (a fallback colour for unknown ones)."""
    return METHOD_COLORS.get(method, _EXTRA_COLORS[index % len(_EXTRA_COLORS)])


def _figure(ncols: int = 1, figsize: tuple[float, float] = FIGSIZE) -> tuple[Figure, list]:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _finish(ax, xlabel: str, ylabel: str, title: str | None = None, grid_axis: str = "both") -> None:
    """The course's axis style: log y, labels, small legend, light grid, the title stating the finding."""
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(True, axis=grid_axis, alpha=0.3)
    if title:
        ax.set_title(title)


def _run_colors(histories: Mapping[str, object]) -> dict[str, str]:
    """Each run's colour: its method's, or a distinct extra colour if an earlier run has that method."""
    colors, used, extra = {}, set(), 0
    for name, h in histories.items():
        method = getattr(h, "method", name)
        if method in used:
            colors[name] = _EXTRA_COLORS[extra % len(_EXTRA_COLORS)]
            extra += 1
        else:
            colors[name] = method_color(method, extra)
            used.add(method)
    return colors


def _label(name: str, history) -> str:
    method = getattr(history, "method", name)
    threshold = getattr(history, "threshold", None)
    base = name if name != method else METHOD_LABELS.get(method, method)
    return base if threshold is None or name != method else f"{base} ({threshold:.3g})"


def plot_loss(histories: Mapping[str, object] | object, title: str | None = None,
              per: str = "step", ax=None) -> Figure:
    """Training loss of one or more ``History`` objects, log scale, divergence marked with an x.

    Args:
      histories: a ``History`` or a mapping label -> ``History``.
      title: the figure title (state the finding).
      per: ``"step"`` (every optimizer step) or ``"epoch"`` (train and validation means).
    """
    if not isinstance(histories, Mapping):
        histories = {getattr(histories, "method", "run"): histories}
    if per not in ("step", "epoch"):
        raise ValueError(f"per must be 'step' or 'epoch', got {per!r}")
    fig, (ax,) = _figure() if ax is None else (ax.figure, [ax])
    colors = _run_colors(histories)
    for i, (name, h) in enumerate(histories.items()):
        color = colors[name]
        if per == "step":
            y = np.asarray(h.loss, dtype=float)
            x = np.arange(len(y))
        else:
            y = np.asarray(h.epochs["loss"], dtype=float)
            x = np.arange(1, len(y) + 1)
        finite = np.isfinite(y)
        ax.plot(x[finite], y[finite], color=color, label=_label(name, h), lw=1.5)
        if per == "epoch" and "val_loss" in h.epochs:
            v = np.asarray(h.epochs["val_loss"], dtype=float)
            ok = np.isfinite(v)
            ax.plot(x[ok], v[ok], color=color, ls="--", lw=1.2, label=f"{_label(name, h)}, validation")
        diverged = getattr(h, "diverged_at", None)
        if diverged is not None and per == "step":
            last = y[finite][-1] if finite.any() else 1.0
            ax.plot([diverged], [last], marker="x", ms=10, mew=2.5, color=color, ls="none",
                    label=f"{_label(name, h)}: non-finite at step {diverged}")
    _finish(ax, "optimizer step" if per == "step" else "epoch", "training loss (MSE)", title)
    return fig


def plot_grad_norms(history, threshold: float | None = None, title: str | None = None, ax=None) -> Figure:
    """Global gradient norm per step before and after clipping, with the threshold line."""
    fig, (ax,) = _figure() if ax is None else (ax.figure, [ax])
    color = method_color(history.method)
    before = np.asarray(history.grad_norm, dtype=float)
    after = np.asarray(history.clipped_norm, dtype=float)
    steps = np.arange(len(before))
    ok = np.isfinite(before)
    if history.method == "none":
        ax.plot(steps[ok], before[ok], color=color, lw=1.5, label="gradient norm (no clipping)")
    else:
        ax.plot(steps[ok], before[ok], color="#999999", lw=1.2, label="before clipping")
        ok = np.isfinite(after)
        ax.plot(steps[ok], after[ok], color=color, lw=1.5, label="after clipping")
    threshold = history.threshold if threshold is None else threshold
    if threshold is not None and history.method in ("global_norm", "none"):
        ax.axhline(threshold, color="#D55E00", ls=":", lw=1.5, label=f"threshold {threshold:.3g}")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("global gradient norm")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.set_title(title or f"{METHOD_LABELS.get(history.method, history.method)}: clipped on "
                 f"{history.clip_fraction:.0%} of steps")
    return fig


def plot_layer_norms(norms_by_label: Mapping[str, Sequence[float]],
                     predicted: Mapping[str, float] | None = None, title: str | None = None) -> Figure:
    """Per-layer gradient norm against depth (layer 1 = input side), one line per setting.

    ``predicted`` maps the same labels to a per-layer growth rate; it is drawn
    as a dashed line through the last layer's norm.
    """
    fig, (ax,) = _figure()
    for i, (label, norms) in enumerate(norms_by_label.items()):
        norms = np.asarray(norms, dtype=float)
        layers = np.arange(1, len(norms) + 1)
        color = _EXTRA_COLORS[i % len(_EXTRA_COLORS)] if i >= 3 else ["#0072B2", "#E69F00", "#009E73"][i]
        ax.plot(layers, norms, marker="o", ms=3, color=color, label=label)
        if predicted and label in predicted:
            rate = predicted[label]
            ax.plot(layers, norms[-1] * rate ** (len(norms) - layers), ls="--", color=color, lw=1,
                    label=f"predicted x{rate:.3f} per layer")
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
    ax.hist(before, bins=edges, color="#999999", alpha=0.7, label="before")
    ax.hist(after, bins=edges, color=METHOD_COLORS["value"], alpha=0.7, label=f"after clip at ±{clip_value:.3g}")
    for x in (-clip_value, clip_value):
        ax.axvline(x, color="#D55E00", ls=":", lw=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("gradient entry")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    ax.set_title(f"{share:.0%} of entries pile up at ±{clip_value:.3g}")
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
        (g, "#999999", f"gradient, norm {norm:.2f}"),
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
    ax.axhline(0, color="#cccccc", lw=0.8)
    ax.axvline(0, color="#cccccc", lw=0.8)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"value clipping turns the gradient by {angle:.1f}°")
    return fig


def plot_norm_traces(histories: Mapping[str, object], threshold: float | None = None,
                     title: str | None = None) -> Figure:
    """Side by side: loss per step, and the global norm before clipping per step, for several runs."""
    fig, (ax_loss, ax_norm) = _figure(ncols=2, figsize=(10.0, 3.6))
    plot_loss(histories, ax=ax_loss)
    colors = _run_colors(histories)
    for name, h in histories.items():
        norms = np.asarray(h.grad_norm, dtype=float)
        ok = np.isfinite(norms)
        ax_norm.plot(np.arange(len(norms))[ok], norms[ok], color=colors[name],
                     lw=1.2, label=_label(name, h))
    if threshold is not None:
        ax_norm.axhline(threshold, color="#D55E00", ls=":", lw=1.5, label=f"threshold {threshold:.3g}")
    ax_norm.set_yscale("log")
    ax_norm.set_xlabel("optimizer step")
    ax_norm.set_ylabel("global norm before clipping")
    ax_norm.legend(fontsize=8)
    ax_norm.grid(True, alpha=0.3)
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
        or any label -> one norm per variable, in the order of ``names``.
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
    fig, (ax,) = _figure()
    for i, (method, norms) in enumerate(norms_by_method.items()):
        norms = np.asarray(norms, dtype=float)
        if norms.shape != (len(names),):
            raise ValueError(f"norms_by_method[{method!r}] has {norms.size} norms for {len(names)} names")
        offset = (i - (len(norms_by_method) - 1) / 2) * width
        ax.bar(x + offset, norms, width, color=method_color(method, i), label=METHOD_LABELS.get(method, method))
    if threshold is not None:
        ax.axhline(threshold, color="#D55E00", ls=":", lw=1.5, label=f"threshold {threshold:.3g}")
    ax.set_xticks(x, names, rotation=15, ha="right", fontsize=8)
    _finish(ax, "", "gradient norm of the variable", title, grid_axis="y")
    return fig


def plot_step_lengths(histories: Mapping[str, object], learning_rates: Mapping[str, float] | float,
                      title: str | None = None) -> Figure:
    """Side by side: loss per step, and the plain-SGD step length ``lr * ||clipped g||`` per step.

    Math: an SGD step (no momentum) moves the weights by ``lr * g_hat``, so its
    length is ``lr * ||g_hat||``, at most ``lr * c`` under global-norm clipping
    at ``c``: the threshold is a cap on the step length, drawn dotted for each
    clipped run. One colour per run (not per method), so several runs of the
    same method can be told apart.

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
    colors = ["#0072B2", "#E69F00", "#009E73", *_EXTRA_COLORS]
    fig, (ax_loss, ax_step) = _figure(ncols=2, figsize=(10.0, 3.6))
    for i, (label, h) in enumerate(histories.items()):
        lr = learning_rates[label] if isinstance(learning_rates, Mapping) else learning_rates
        color = colors[i % len(colors)]
        loss = np.asarray(h.loss, dtype=float)
        step = lr * np.asarray(h.clipped_norm, dtype=float)
        for ax, y in ((ax_loss, loss), (ax_step, step)):
            ok = np.isfinite(y)
            ax.plot(np.arange(len(y))[ok], y[ok], color=color, lw=1.2, label=label)
        if h.method == "global_norm" and h.threshold is not None:
            ax_step.axhline(lr * h.threshold, color=color, ls=":", lw=1.5, label=f"cap lr x c = {lr * h.threshold:.3g}")
    for ax, ylabel in ((ax_loss, "training loss (MSE)"), (ax_step, "SGD step length lr x ||clipped g||")):
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    ax_loss.legend(fontsize=8)
    ax_step.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def plot_cliff(surface, runs: Mapping[str, object] | None = None, max_paths: int = 40,
               longer_than: float = 5.0, tol: float = 0.05, title: str | None = None) -> Figure:
    """Pascanu's loss surface ``E(w, b)`` with gradient-descent paths drawn on it, one panel per run.

    Math: the background is ``log10 E(w, b)``; a path is ``(w_k, b_k)`` for
    ``k = 0 .. steps``. A step longer than ``longer_than`` (thrown off the wall)
    is drawn dashed in vermillion; panel titles give the share of runs with
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
                ax.plot(w[k:k + 2, i], b[k:k + 2, i], color="#D55E00", ls="--", lw=1.2)
        ax.plot(w[0, :shown], b[0, :shown], "o", ms=3, color=color, label=f"start ({shown} of {w.shape[1]} runs)")
        ax.plot([], [], color=color, lw=1.2, label="gradient-descent path")
        ax.plot([], [], color="#D55E00", ls="--", lw=1.2, label=f"step longer than {longer_than:g}")
        ax.legend(fontsize=7, loc="lower right")
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
      ``axes[1]`` the norm before (``lines[0]``) and after (``lines[1]``)
      clipping, the thresholds as a ``LineCollection`` in ``collections``.

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(loss=np.array([4.0, 2.0, 1.0]), grad_norm=np.array([9.0, 8.0, 1.0]),
    ...                       clipped_norm=np.array([5.0, 2.0, 1.0]), method="global_norm",
    ...                       threshold=2.0, diverged_at=None)
    >>> fig = plot_training_progress(run, [(0, "global_norm", 5.0), (1, "global_norm", 2.0)])
    >>> [segment[:, 1].tolist() for segment in fig.axes[1].collections[0].get_segments()]
    [[5.0, 5.0], [2.0, 2.0]]
    """
    fig = Figure(figsize=(10.0, 3.6), dpi=DPI)
    fig.subplots_adjust(left=0.085, right=0.99, bottom=0.14, top=0.86, wspace=0.24)
    ax_loss, ax_norm = fig.subplots(1, 2)
    plot_loss({"training loss": history}, ax=ax_loss)
    before = np.asarray(history.grad_norm, dtype=float)
    after = np.asarray(history.clipped_norm, dtype=float)
    x = np.arange(len(before))
    for values, color, label in ((before, "#999999", "before clipping"),
                                 (after, method_color(history.method), "after clipping")):
        ok = np.isfinite(values)
        ax_norm.plot(x[ok], values[ok], color=color, lw=1.2, label=label)
    changes = list(changes) or [(0, history.method, history.threshold)]
    ends = [start for start, _, _ in changes[1:]] + [max(len(before), changes[-1][0] + 1, steps or 0)]
    levels = [(start, end, t) for (start, method, t), end in zip(changes, ends)
              if method == "global_norm" and t is not None]
    if levels:
        ax_norm.hlines([t for _, _, t in levels], [s for s, _, _ in levels], [e for _, e, _ in levels],
                       colors="#D55E00", linestyles=":", lw=1.5, label="threshold (global norm)")
    for start, _, _ in changes[1:]:
        ax_norm.axvline(start, color="#999999", ls="--", lw=0.8)
    ax_norm.set_yscale("log")
    ax_norm.set_xlabel("optimizer step")
    ax_norm.set_ylabel("global gradient norm")
    ax_norm.legend(fontsize=8)
    ax_norm.grid(True, alpha=0.3)
    if steps:
        for ax in (ax_loss, ax_norm):
            ax.set_xlim(0, max(steps, len(before)))
    if title:
        fig.suptitle(title)
    return fig
