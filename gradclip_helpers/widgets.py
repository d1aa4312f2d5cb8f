"""ipywidgets that redraw the course's figures when a control moves.

Each builder returns a ``FigureExplorer``: a widget holding its controls
(``explorer.controls["clip_value"]``), an ``Output`` area and the figures it
last drew (``explorer.figures``). Setting a control's ``.value`` from Python
redraws exactly as moving it in the browser does, which is how the tests
drive them. A draw that fails shows its error in the widget and keeps the
previous figures.

A widget needs a live kernel: a notebook saved with one shows nothing where
it was on GitHub or nbviewer. So an explorer displayed without a browser
(papermill, nbval, ``make notebooks``: ``frontend_attached()`` is False)
also leaves its first figures as PNG image outputs in the cell, which the
saved notebook shows anywhere; in JupyterLab the widget alone is shown.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
from IPython.display import clear_output, display
from matplotlib.figure import Figure

from . import plots
from .diagnostics import fit_growth_rate, layer_gradient_norms, predicted_growth_rate
from .models import deep_mlp

DrawFn = Callable[..., Figure | Sequence[Figure]]
ERROR_STYLE = "<span style='color:#B00020'>{}</span>"  # an error red, outside the figures' palette


def frontend_attached() -> bool:
    """True when the running cell was sent by a notebook frontend that shows widgets (JupyterLab, Notebook 7).

    Notebook frontends send the cell's id with each execute request
    (``metadata.cellId``); papermill, nbval and nbclient send no metadata.
    A widget manager that opened ipywidgets' ``jupyter.widget.control``
    comm also counts (JupyterLab opens it on connecting, but a fresh kernel
    has not imported ipywidgets yet and turns it down, so it is only a
    second signal).

    >>> frontend_attached()   # a plain Python process
    False
    """
    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
        parent = kernel.get_parent() if kernel is not None else None
    except Exception:  # another shell or kernel: treat as no frontend
        parent = None
    metadata = (parent or {}).get("metadata") or {}
    return bool(metadata.get("cellId")) or getattr(widgets.Widget, "_control_comm", None) is not None


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes, at its own dpi."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_title(fig: Figure) -> str:
    """The figure's title (its suptitle, else its first axes' title)."""
    return fig.get_suptitle() or next((ax.get_title() for ax in fig.axes if ax.get_title()), "")


def image_bundle(fig: Figure, data: bytes | None = None) -> dict[str, str]:
    """A display bundle of the figure as a PNG image, its title as the text alternative.

    >>> fig = Figure()
    >>> _ = fig.suptitle("clipped on 40% of steps")
    >>> sorted(image_bundle(fig)), image_bundle(fig)["text/plain"]
    (['image/png', 'text/plain'], '<Figure: clipped on 40% of steps>')
    """
    return {"image/png": base64.b64encode(png(fig) if data is None else data).decode("ascii"),
            "text/plain": f"<Figure: {figure_title(fig)}>"}


class FigureExplorer(widgets.VBox):
    """Controls above an output area; any control change calls ``draw(**values)`` again."""

    def __init__(self, draw: DrawFn, **controls: widgets.ValueWidget):
        self.draw = draw
        self.controls = controls
        self.output = widgets.Output()
        self.message = widgets.HTML()
        self.figures: list[Figure] = []
        self.draw_count = 0
        self.error: str | None = None
        super().__init__([widgets.HBox(list(controls.values())), self.message, self.output])
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.redraw()

    def __repr__(self) -> str:  # the widget's text/plain, what GitHub and nbviewer show in its place
        values = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in self.values.items())
        return f"FigureExplorer({values}): interactive, run the notebook to move it"

    def _ipython_display_(self) -> None:
        """Display the widget; without a browser, its current figures as PNG images after it (see the module doc)."""
        display(self._repr_mimebundle_(), raw=True)
        if not frontend_attached():
            for fig in self.figures:
                display(image_bundle(fig), raw=True)

    @property
    def values(self) -> dict[str, object]:
        return {name: control.value for name, control in self.controls.items()}

    def _on_change(self, _change) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw with the current control values; show an error instead of raising."""
        try:
            result = self.draw(**self.values)
        except Exception as exc:  # shown to the learner, previous figures kept
            self.error = f"{type(exc).__name__}: {exc}"
            self.message.value = ERROR_STYLE.format(self.error)
            return
        self.error = None
        self.message.value = ""
        self.figures = [result] if isinstance(result, Figure) else list(result)
        self.draw_count += 1
        with self.output:
            clear_output(wait=True)
            display(*self.figures)


def _slider(cls, description: str, value, lo, hi, step, **kwargs):
    return cls(value=value, min=lo, max=hi, step=step, description=description,
               continuous_update=False, style={"description_width": "initial"}, **kwargs)


def layer_norm_explorer(depth: int = 30, weight_scale: float = 2.0, width: int = 128,
                        activation: str = "tanh", seed: int = 0) -> FigureExplorer:
    """Sliders for depth and initial weight scale of a deep MLP; redraws per-layer gradient norms."""

    def draw(depth: int, weight_scale: float) -> Figure:
        norms = layer_gradient_norms(deep_mlp(depth, width, activation, weight_scale, seed=seed), seed=seed)
        label = f"{activation}, g = {weight_scale:.2f}, depth {depth}"
        predicted = {label: predicted_growth_rate(activation, weight_scale)}
        measured = (fit_growth_rate(norms, first=min(4, depth - 2), last=max(depth - 4, 2)) if depth >= 3
                    else float("nan"))
        return plots.plot_layer_norms(
            {label: norms}, predicted=predicted,
            title=f"measured growth x{measured:.3f} per layer, predicted x{predicted[label]:.3f}",
        )

    return FigureExplorer(
        draw,
        depth=_slider(widgets.IntSlider, "depth", depth, 3, 60, 1),
        weight_scale=_slider(widgets.FloatSlider, "weight scale g", weight_scale, 0.5, 4.0, 0.1),
    )


def value_clip_explorer(grad_entries: np.ndarray, clip_value: float = 1.0,
                        vector: Sequence[float] = (3.0, 1.0)) -> FigureExplorer:
    """A clip-value slider that redraws the 2-D clipping picture and the histogram of ``grad_entries``."""
    entries = np.ravel(np.asarray(grad_entries, dtype=float))
    top = float(max(np.abs(entries).max(), 2 * clip_value))

    def draw(clip_value: float) -> list[Figure]:
        return [plots.plot_clip_2d(vector, clip_value), plots.plot_value_histogram(entries, clip_value)]

    return FigureExplorer(
        draw,
        clip_value=_slider(widgets.FloatLogSlider, "clip value", clip_value,
                           np.log10(top) - 3, np.log10(top), 0.1, base=10),
    )


def threshold_explorer(run: Callable[[float], object], threshold: float = 5.0,
                       low: float = 0.1, high: float = 1000.0, baseline: object | None = None) -> FigureExplorer:
    """A threshold slider that trains again with ``run(threshold)`` and redraws loss and norms.

    Args:
      run: trains and returns a ``History`` for a threshold.
      baseline: an optional ``History`` drawn next to every run (e.g. no clipping).
    """

    def draw(threshold: float) -> Figure:
        history = run(threshold)
        runs = {"clipped": history} if baseline is None else {"baseline": baseline, "clipped": history}
        outcome = "diverges" if history.diverged else f"final loss {history.final_loss:.4g}"
        return plots.plot_norm_traces(
            runs, threshold=threshold,
            title=f"threshold {threshold:.3g}: clipped on {history.clip_fraction:.0%} of steps, {outcome}",
        )

    return FigureExplorer(
        draw,
        threshold=_slider(widgets.FloatLogSlider, "threshold", threshold,
                          np.log10(low), np.log10(high), 0.1, base=10),
    )


def cliff_explorer(w0: np.ndarray, b0: np.ndarray, threshold: float = 1.0, lr: float = 0.5,
                   steps: int = 300, surface: object | None = None, baseline: object | None = None,
                   low: float = 0.01, high: float = 1000.0, max_paths: int = 40) -> FigureExplorer:
    """A threshold slider for norm-clipped gradient descent on Pascanu's cliff; redraws the paths.

    Math: each run steps ``(w, b) <- (w, b) - lr * g * min(1, c / ||g||)``
    (``gradclip_helpers.pascanu.descend``), so no step is longer than
    ``lr * c``; the unclipped runs are drawn next to the clipped ones.

    Args:
      w0, b0: starting points, float32 arrays of shape ``(runs,)``
        (e.g. ``pascanu.random_starts()``).
      threshold: the slider's first value ``c``.
      lr, steps: gradient-descent learning rate and number of steps.
      surface: a ``pascanu.loss_surface()`` to draw on (computed if None).
      baseline: the unclipped ``pascanu.descend`` result (computed if None).
      low, high: the slider's range (log scale).
      max_paths: paths drawn per panel.

    Returns:
      A ``FigureExplorer`` with the control ``"threshold"``.

    >>> import contextlib, io
    >>> from gradclip_helpers.pascanu import random_starts
    >>> with contextlib.redirect_stdout(io.StringIO()):  # outside a notebook the figures print
    ...     explorer = cliff_explorer(*random_starts(20, seed=0), steps=50)
    ...     explorer.controls["threshold"].value = 10.0
    >>> explorer.draw_count, explorer.error
    (2, None)
    """
    from .pascanu import descend, loss_surface

    surface = loss_surface() if surface is None else surface
    baseline = descend(w0, b0, lr=lr, steps=steps) if baseline is None else baseline

    def draw(threshold: float) -> Figure:
        clipped = descend(w0, b0, lr=lr, steps=steps, threshold=threshold)
        return plots.plot_cliff(
            surface, {"no clipping": baseline, f"clipped at {threshold:.3g}": clipped}, max_paths=max_paths,
            title=f"threshold {threshold:.3g}: steps capped at lr*c = {lr * threshold:.3g}, "
                  f"{np.mean(clipped.catapulted()):.0%} catapulted, {np.mean(clipped.converged()):.0%} converge",
        )

    return FigureExplorer(
        draw,
        threshold=_slider(widgets.FloatLogSlider, "threshold", threshold,
                          np.log10(low), np.log10(high), 0.1, base=10),
    )
