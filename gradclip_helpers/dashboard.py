"""A live training dashboard: watch the gradient norm and the clipper while a model trains.

``TrainingDashboard`` trains with ``Trainer`` a few steps at a time and
redraws ``plots.plot_training_progress`` (loss, and the global norm before
and after clipping with the threshold line) as it goes. Its controls:
Start / Pause / Resume, Reset (new weights from your model factory, a fresh
optimizer, an empty history), a method dropdown and a threshold box whose
changes take effect between two steps. A bad threshold or an unknown method
is shown in the widget and the setting in force is kept.

How it stays live: training runs in a background thread. Each redraw renders
the figure to PNG and assigns it to an ``ipywidgets.Output``'s ``outputs``
trait, which is a plain widget-state update: ipykernel sends it on its IOPub
thread from any thread, and the kernel's main thread stays free to handle
button clicks (a new method or threshold waits for the current chunk of steps).
(Capturing with ``with output:`` from a thread is not used: it
routes by the message being executed, which a thread does not have.)

Redrawing costs time, so it is rationed: a redraw happens only while the time
spent drawing stays under ``max_overhead`` (default 10 %) of the time spent
training, measured as the run goes (``overhead`` reports it;
``benchmarks/dashboard.py`` compares wall-clock time with and without the
dashboard).

Without a browser (papermill, nbval, a script) nobody can press Start, so
``show()`` trains to the end at once and displays the final figure, which
keeps notebooks testable. ``frontend_attached()`` tells the two apart:
notebook frontends send the cell's id with the code to run, papermill and
nbval do not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import keras
import numpy as np
from IPython.display import display
from matplotlib.figure import Figure

from . import plots
from .clipping import check_threshold, make_clipper
from .training import History, Trainer
from .widgets import ERROR_STYLE, frontend_attached, image_bundle
from .widgets import png as _png

DEFAULT_METHODS = ("none", "value", "norm", "global_norm")


class TrainingDashboard(widgets.VBox):
    """Train a Keras model step by step and watch loss and gradient norms, with live controls.

    Args:
      model_fn: called with no arguments, returns a new built Keras model
        (``lambda: gh.seed_mlp(20, seed=0)``); called again by Reset.
      data: ``(x, y)`` arrays (shuffled with ``seed``: every reset sees the
        same batches), a batched ``tf.data.Dataset``, or a function
        returning one (called on each reset).
      optimizer_fn: returns a new optimizer without its own clipping
        argument; default ``keras.optimizers.SGD(0.01)``.
      method, threshold: the clipper at the start (``make_clipper``).
      epochs: train this many epochs, then stop.
      methods: the methods the dropdown offers.
      redraw_every: steps per chunk; the figure is redrawn between chunks.
      max_overhead: redraw only while drawing time stays under this share of
        the training time.
      pace: slow motion for watching a fast model: each chunk takes at least
        this many seconds (the wait is spent redrawing); 0 is full speed.
        ``run_to_end`` ignores it.
      **trainer_kwargs: passed to ``Trainer`` (``batch_size``, ``seed``,
        ``validation_data``, ``metrics``, ``loss``, ``nonfinite``...).

    Attributes:
      controls: ``{"start", "reset", "method", "threshold"}`` widgets; set
        ``.value`` or call ``.click()`` from Python as in the browser.
      trainer, figure (the last ``Figure`` drawn), png (its bytes),
      draw_count, error (the last error shown, else None), status
      (``"ready"``, ``"running"``, ``"paused"``, ``"finished"``,
      ``"stopped"`` after a non-finite step, ``"failed"``), changes
      (``(first_step, method, threshold)`` per setting), live (whether
      ``show()`` left training to the buttons).

    >>> import numpy as np
    >>> from gradclip_helpers import seed_mlp
    >>> x, y = np.ones((64, 20), "float32"), np.ones((64, 1), "float32")
    >>> dash = TrainingDashboard(lambda: seed_mlp(20, seed=0), (x, y), epochs=2)
    >>> dash.run_to_end().steps, dash.status
    (4, 'finished')
    """

    def __init__(
        self,
        model_fn: Callable[[], keras.Model],
        data,
        *,
        optimizer_fn: Callable[[], keras.optimizers.Optimizer] | None = None,
        method: str = "global_norm",
        threshold: float | None = 5.0,
        epochs: int = 10,
        methods: Sequence[str] = DEFAULT_METHODS,
        redraw_every: int = 16,
        max_overhead: float = 0.1,
        pace: float = 0.0,
        **trainer_kwargs,
    ):
        if not callable(model_fn):
            raise ValueError(f"model_fn must be a function returning a new model, got {type(model_fn).__name__}")
        for name, value in (("epochs", epochs), ("redraw_every", redraw_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < max_overhead < 1:
            raise ValueError(f"max_overhead must be in (0, 1), got {max_overhead!r}")
        if not 0 <= pace < 60:
            raise ValueError(f"pace must be a number of seconds in [0, 60), got {pace!r}")
        methods = list(methods)
        if method not in methods:
            raise ValueError(f"method {method!r} is not among methods {methods}")
        make_clipper(method, threshold)  # a bad start setting is the caller's error: raise now
        self.model_fn, self.data, self.epochs = model_fn, data, epochs
        self.optimizer_fn = optimizer_fn or (lambda: keras.optimizers.SGD(0.01))
        self.redraw_every, self.max_overhead, self.pace = redraw_every, max_overhead, float(pace)
        self.trainer_kwargs = trainer_kwargs
        self.figure: Figure | None = None
        self.png = b""
        self.draw_count = 0
        self.error: str | None = None
        self.live = False
        self._lock = threading.RLock()  # guards the trainer: one chunk or one setting change at a time
        self._pause = threading.Event()
        self._thread: threading.Thread | None = None
        self._reverting = False

        self.controls = {
            "start": widgets.Button(description="Start", icon="play", button_style="success",
                                    tooltip="start, pause or resume training"),
            "reset": widgets.Button(description="Reset", icon="refresh",
                                    tooltip="new weights, fresh optimizer, empty history"),
            "method": widgets.Dropdown(options=methods, value=method, description="method",
                                       layout=widgets.Layout(width="220px")),
            "threshold": widgets.FloatText(value=5.0 if threshold is None else threshold,
                                           description="threshold", step=0.5,
                                           layout=widgets.Layout(width="180px")),
        }
        self.message = widgets.HTML()
        self.output = widgets.Output()
        self.controls["start"].on_click(lambda _b: self.toggle())
        self.controls["reset"].on_click(lambda _b: self.reset())
        self.controls["method"].observe(self._on_setting, names="value")
        self.controls["threshold"].observe(self._on_setting, names="value")
        super().__init__([widgets.HBox(list(self.controls.values())), self.message, self.output])
        self._new_run()
        self.redraw()

    def __repr__(self) -> str:  # the text/plain of the widget, e.g. in a notebook saved by papermill
        return (f"TrainingDashboard({self.status}: {self.trainer.clipper.method} at "
                f"{self.controls['threshold'].value:g}, {self.trainer.steps} steps)")

    # -- state ------------------------------------------------------------

    def _new_run(self) -> None:
        data = self.data() if callable(self.data) else self.data
        self.trainer = Trainer(self.model_fn(), data, optimizer=self.optimizer_fn(),
                               clipper=self.controls["method"].value,
                               threshold=self.controls["threshold"].value, **self.trainer_kwargs)
        self.changes: list[tuple[int, str, float | None]] = [(0, self.trainer.clipper.method,
                                                              self.trainer.clipper.threshold)]
        self.status = "ready"
        self.train_seconds = 0.0
        self.draw_seconds = 0.0
        self.idle_seconds = 0.0
        self._last_draw_seconds = 0.0
        self._drawn: tuple[int, int] | None = None  # (steps, epochs done) last drawn

    @property
    def history(self) -> History:
        """Everything recorded so far in this run."""
        with self._lock:
            return self.trainer.history

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def done(self) -> bool:
        """The run reached its epochs or stopped on a non-finite step (press Reset to train again)."""
        return self.trainer.stopped or self.trainer.epochs_done >= self.epochs

    @property
    def overhead(self) -> float:
        """Time spent drawing while training (beyond what ``pace`` left idle), as a share of the training time."""
        return max(self.draw_seconds - self.idle_seconds, 0.0) / self.train_seconds if self.train_seconds else 0.0

    # -- controls ---------------------------------------------------------

    def _show_error(self, message: str) -> None:
        self.error = message
        self.message.value = ERROR_STYLE.format(message)

    def _show_status(self) -> None:
        labels = {"running": ("Pause", "pause", "warning"), "paused": ("Resume", "play", "success")}
        description, icon, style = labels.get(self.status, ("Start", "play", "success"))
        button = self.controls["start"]
        button.description, button.icon, button.button_style = description, icon, style
        button.disabled = self.done

    def set_clipper(self, method: str, threshold: float | None) -> bool:
        """Use this method and threshold from the next step on; on bad input show the error and keep the setting.

        Returns whether the setting was taken. The controls show the setting in force.
        """
        try:
            offered = self.controls["method"].options
            if method not in offered:
                raise ValueError(f"unknown method {method!r}; this dashboard offers {', '.join(offered)}")
            threshold = check_threshold("threshold", threshold)
            with self._lock:
                self.trainer.set_clipper(method, threshold)  # raises and changes nothing on bad input
                step = self.trainer.steps
                entry = (step, self.trainer.clipper.method, self.trainer.clipper.threshold)
                if self.changes[-1][0] == step:
                    self.changes[-1] = entry
                else:
                    self.changes.append(entry)
        except (ValueError, TypeError) as exc:
            _, kept, at = self.changes[-1]
            self._show_error(f"{type(exc).__name__}: {exc} (kept {kept}{'' if at is None else f' at {at:g}'})")
            self._sync_controls()
            return False
        self.error = None
        self.message.value = ""
        self._sync_controls()
        if not self.running:
            self.redraw()
        return True

    def _sync_controls(self) -> None:
        method, threshold = self.changes[-1][1], self.changes[-1][2]
        self._reverting = True
        try:
            if method in self.controls["method"].options:
                self.controls["method"].value = method
            if threshold is not None:
                self.controls["threshold"].value = threshold
        finally:
            self._reverting = False

    def _on_setting(self, _change) -> None:
        if not self._reverting:
            self.set_clipper(self.controls["method"].value, self.controls["threshold"].value)

    def toggle(self) -> None:
        """The Start / Pause / Resume button."""
        if self.running:
            self.pause()
        else:
            self.start()

    def start(self) -> bool:
        """Train in a background thread, redrawing as it goes; False if the run is already over."""
        if self.running or self.done:
            return False
        self._pause.clear()
        self.status = "running"
        self._show_status()
        self._thread = threading.Thread(target=self._train, kwargs={"draw": True}, daemon=True,
                                        name="gradclip-dashboard")
        self._thread.start()
        return True

    def pause(self) -> None:
        """Stop after the current chunk of steps (``wait()`` to block until then)."""
        self._pause.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the training thread has stopped; return whether it has."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def reset(self) -> None:
        """New weights from ``model_fn``, a fresh optimizer, an empty history, the current setting."""
        self.pause()
        self.wait()
        with self._lock:
            self._new_run()
        self.error = None
        self.message.value = ""
        self._show_status()
        self.redraw()

    def close(self) -> None:
        """Stop training (after the current chunk) and close the widget."""
        if getattr(self, "_thread", None) is not None:  # also called by __del__, even after a failed __init__
            self.pause()
            self.wait()
        super().close()

    # -- training and drawing ----------------------------------------------

    def _train(self, draw: bool) -> None:
        """Advance in chunks until done or paused; redraw between chunks while within budget.

        Drawing may take ``max_overhead`` of the training time, plus any time
        that ``pace`` would otherwise spend waiting.
        """
        try:
            while not self._pause.is_set() and not self.done:
                start = time.perf_counter()
                with self._lock:
                    self.trainer.advance(self.redraw_every)
                self.train_seconds += time.perf_counter() - start
                budget = self.max_overhead * self.train_seconds + self.idle_seconds
                if draw and not self.done and self.draw_seconds + self._last_draw_seconds <= budget:
                    self._timed_redraw()
                rest = self.pace - (time.perf_counter() - start) if draw else 0.0
                if rest > 0:
                    waited = time.perf_counter()
                    self._pause.wait(rest)  # returns at once on Pause
                    self.idle_seconds += time.perf_counter() - waited
            self.status = "stopped" if self.trainer.stopped else "finished" if self.done else "paused"
        except Exception as exc:  # shown in the widget: a background thread has nobody to raise to
            self.status = "failed"
            self._show_error(f"{type(exc).__name__}: {exc}")
        finally:
            if (self.trainer.steps, self.trainer.epochs_done) != self._drawn:
                self._timed_redraw()
            self._show_status()

    def _timed_redraw(self) -> None:
        start = time.perf_counter()
        self.redraw()
        self.draw_seconds += time.perf_counter() - start

    def run_to_end(self) -> History:
        """Train to the end here and now (no redraws on the way), draw the final figure, return the history."""
        self.pause()
        self.wait()
        if not self.done:
            self._pause.clear()
            self.status = "running"
            self._train(draw=False)
        return self.history

    def _title(self, history: History) -> str:
        start, method, threshold = self.changes[-1]
        setting = plots.METHOD_LABELS.get(method, method) + ("" if method == "none" else f" at {threshold:g}")
        if len(self.changes) > 1:
            setting += f" since step {start}"
        if history.steps == 0:
            return f"Press Start: {setting}, {self.epochs} epochs"
        if history.diverged:
            return f"Loss or gradient non-finite at step {history.diverged_at} ({setting}): press Reset"
        finite = history.loss[np.isfinite(history.loss)]
        progress = (f"{self.epochs} epochs" if self.done else
                    f"epoch {self.trainer.epochs_done + 1} of {self.epochs}, step {history.steps}")
        return (f"{setting}, {progress}: loss {finite[0]:.3g} -> {finite[-1]:.3g}, "
                f"clipped on {history.clip_fraction:.0%} of steps")

    def redraw(self) -> Figure:
        """Draw the run so far into the widget (a PNG in the output area) and return the figure."""
        start = time.perf_counter()
        with self._lock:
            history = self.trainer.history
            changes = list(self.changes)
            epochs_done = self.trainer.epochs_done
        per_epoch = self.trainer.steps_per_epoch
        fig = plots.plot_training_progress(history, changes, title=self._title(history),
                                           steps=self.epochs * per_epoch if per_epoch else None)
        png = _png(fig)
        self.output.outputs = ({"output_type": "display_data", "data": image_bundle(fig, png), "metadata": {}},)
        self.figure, self.png, self._drawn = fig, png, (history.steps, epochs_done)
        self.draw_count += 1
        self._last_draw_seconds = time.perf_counter() - start
        return fig

    def show(self, live: bool | None = None) -> None:
        """Display the dashboard; without a browser, train to the end and display the final figure too.

        Args:
          live: ``None`` (default) detects a browser (``frontend_attached()``);
            ``True`` leaves training to the Start button, ``False`` trains now.
        """
        self.live = frontend_attached() if live is None else bool(live)
        if not self.live:
            self.run_to_end()
        display(self)
        if not self.live:
            display(image_bundle(self.figure, self.png), raw=True)
