"""Figures of notebook 08 (clipping in practice): loss spikes, Adam's second moment, ``x**4``.

Built like ``plots``: ``Figure`` objects (never ``pyplot``), the course's
palette (one colour per method, greys for anything else), titles stating the
finding. Nothing here trains.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from .plots import WIDE_FIGSIZE, _figure, _finish, _label, _step_curve, _styles, method_color, neutral_colors


def plot_loss_spikes(history, spikes, title: str | None = None, smooth: int | None = None) -> Figure:
    """Side by side for one run: the loss and the global gradient norm per step, spikes marked.

    Args:
      history: a ``History``.
      spikes: the spike steps (``spike_steps(history.loss, ...)``).
      title: the figure title (state the finding).
      smooth: draw this many steps' moving average over the faint per-step curves.

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(loss=np.array([1.0, 1.0, 5.0]), grad_norm=np.array([1.0, 1.0, 9.0]), method="none")
    >>> plot_loss_spikes(run, [2]).axes[0].lines[-1].get_xdata().tolist()
    [2]
    """
    fig, (ax_loss, ax_norm) = _figure(ncols=2, figsize=WIDE_FIGSIZE)
    color = method_color(history.method)
    spikes = np.asarray(spikes, dtype=int)
    for ax, values, name in ((ax_loss, history.loss, "training loss"), (ax_norm, history.grad_norm, "gradient norm")):
        values = np.asarray(values, dtype=float)
        _step_curve(ax, values, color, name, smooth=smooth, lw=1.2)
        ax.plot(spikes, values[spikes], "x", ms=7, mew=2, color=neutral_colors(1)[0], ls="none",
                label=f"loss spike ({len(spikes)} steps)")
    _finish(ax_loss, "optimizer step", "training loss (cross-entropy)")
    _finish(ax_norm, "optimizer step", "global gradient norm")
    if title:
        fig.suptitle(title)
    return fig


def plot_adam_rms(traces: Mapping[str, tuple[object, np.ndarray]], mark: int | None = None,
                  title: str | None = None) -> Figure:
    """Root mean square of Adam's ``sqrt(v)`` per step for one variable, one line per run.

    Args:
      traces: label -> ``(history, trace)`` with ``trace`` from ``adam_rms_trace``
        (the history gives the run's method, so its colour).
      mark: a step to mark with a dashed vertical line (a spike).
      title: the figure title (state the finding).

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(method="none", threshold=None)
    >>> fig = plot_adam_rms({"none": (run, np.array([1.0, 2.0]))}, mark=1)
    >>> fig.axes[0].lines[0].get_ydata().tolist()
    [1.0, 2.0]
    """
    fig, (ax,) = _figure()
    styles = _styles({name: h for name, (h, _) in traces.items()})
    for name, (h, trace) in traces.items():
        color, ls = styles[name]
        ax.plot(np.arange(len(trace)), trace, color=color, ls=ls, lw=1.5, label=_label(name, h))
    if mark is not None:
        ax.axvline(mark, color=neutral_colors(2)[1], ls="--", lw=1.0, label=f"spike at step {mark}")
    _finish(ax, "optimizer step", "RMS of Adam's sqrt(v)", title)
    return fig


def plot_quartic(paths: Mapping[str, tuple[str, np.ndarray]], title: str | None = None) -> Figure:
    """``|x_t|`` per step of gradient descent on ``x**4``, one line per run; a diverged run ends with an x.

    Args:
      paths: label -> ``(method, iterates)`` with the iterates from ``quartic.descend``.
      title: the figure title (state the finding).

    >>> fig = plot_quartic({"GD": ("none", np.array([3.0, 7.8, np.inf]))})
    >>> fig.axes[0].lines[0].get_ydata().tolist()
    [3.0, 7.8]
    """
    fig, (ax,) = _figure()
    for name, (method, path) in paths.items():
        size = np.abs(np.asarray(path, dtype=float))
        ok = np.isfinite(size)
        ax.plot(np.flatnonzero(ok), size[ok], color=method_color(method), lw=1.5, marker=".", label=name)
        if not ok.all():
            last = int(np.flatnonzero(ok)[-1])
            ax.plot([last], [size[last]], "x", ms=10, mew=2.5, color=method_color(method), ls="none",
                    label=f"{name}: diverged after step {last}")
    _finish(ax, "step", "|x| (distance to the minimum)", title)
    return fig
