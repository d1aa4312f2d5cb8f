"""Choosing a clipping threshold from the gradient norms of a short warm-up.

``suggest_threshold`` reads the global gradient norms of a few hundred steps,
from wherever they were recorded: a ``History`` of ``train()``, an array, a
TensorBoard folder written by ``train(log_dir=...)`` (tag
``grad_norm/before_clipping``), or a ``NormRecorder`` callback that collects
``ClippingModel``'s per-step ``step_grad_norm`` during ``model.fit``. It returns
the threshold with the statistic it came from and the share of those steps it
would have clipped.

Two statistics, both from the literature:

- a **percentile** of the norms (default: the 95th, so about 5 % of the warm-up
  steps would be clipped): a guard against the rare spike, as AutoClip
  (Seetharaman et al. 2020) and ZClip (Kumar et al. 2025) do adaptively;
- a **multiple of the mean** norm: Pascanu, Mikolov and Bengio (2013) found
  "values from half to ten times this average can still yield convergence".

The recipe threshold of language-model training, ``max_grad_norm = 1.0``
(GPT-3, Llama, nanoGPT, the Hugging Face ``Trainer`` default), is not derived
from the norms at all; notebook 08 compares it with a suggested one.

References:
  Pascanu, Mikolov, Bengio. On the difficulty of training recurrent neural
  networks. ICML 2013, arXiv:1211.5063, section 3.2.
  Seetharaman, Wichern, Pardo, Le Roux. AutoClip: adaptive gradient clipping
  for source separation networks. MLSP 2020, arXiv:2007.14469.
  Kumar, Owen, Roy Chowdhury, Güra. ZClip: adaptive spike mitigation for LLM
  pre-training. arXiv:2504.02507, 2025.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from matplotlib.figure import Figure

from .plots import THRESHOLD_COLOR, _figure, _finish, method_color

TENSORBOARD_TAG = "grad_norm/before_clipping"


class NormRecorder(keras.callbacks.Callback):
    """Collects the global gradient norm of every step of ``model.fit`` on a ``ClippingModel``.

    ``ClippingModel`` reports the norm of each step as ``step_grad_norm`` in the
    batch logs (its ``grad_norm`` metric is the running mean over the epoch).
    Pass the recorder to ``suggest_threshold``, or read ``recorder.norms``.

    >>> recorder = NormRecorder()
    >>> recorder.on_train_batch_end(0, {"step_grad_norm": 2.5})
    >>> recorder.norms
    array([2.5], dtype=float32)
    """

    def __init__(self):
        super().__init__()
        self._norms: list[float] = []

    def on_train_begin(self, logs=None) -> None:
        self._norms = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        if not logs or "step_grad_norm" not in logs:
            raise ValueError(
                "the batch logs have no 'step_grad_norm': record with a gh.ClippingModel "
                f"(got the logs {sorted(logs or {})})"
            )
        self._norms.append(float(logs["step_grad_norm"]))

    @property
    def norms(self) -> np.ndarray:
        """The recorded norms, one per step, as float32."""
        return np.asarray(self._norms, dtype=np.float32)


def read_tensorboard_norms(log_dir: str | os.PathLike, tag: str = TENSORBOARD_TAG) -> np.ndarray:
    """The per-step values of ``tag`` in the TensorBoard event files of one run folder, in step order.

    ``train(log_dir=...)`` writes the global norm before clipping under
    ``grad_norm/before_clipping``. When a step was written twice (a run
    continued in the same folder), the last value written counts.
    """
    folder = Path(log_dir)
    files = sorted(folder.glob("events.out.tfevents.*")) if folder.is_dir() else []
    if not files:
        raise ValueError(f"no TensorBoard event files in {str(log_dir)!r}: pass the folder given to "
                         "train(log_dir=...) for one run")
    values: dict[int, float] = {}
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    values[int(event.step)] = float(tf.make_ndarray(value.tensor))
    if not values:
        raise ValueError(f"no {tag!r} values in {str(log_dir)!r}")
    return np.asarray([values[s] for s in sorted(values)], dtype=np.float32)


def _norms_from(source) -> tuple[np.ndarray, str]:
    """The norms in ``source`` and a short description of where they came from."""
    if isinstance(source, keras.callbacks.History):
        raise ValueError("a keras History holds epoch means, not per-step norms: fit a gh.ClippingModel "
                         "with callbacks=[gh.NormRecorder()] and pass the recorder")
    if isinstance(source, NormRecorder):
        return source.norms, "model.fit steps"
    if isinstance(source, (str, os.PathLike)):
        return read_tensorboard_norms(source), "TensorBoard steps"
    if hasattr(source, "grad_norm"):  # a gh.History
        return np.asarray(source.grad_norm, dtype=np.float32), "train() steps"
    try:
        norms = np.asarray(source, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("source must be a History, an array of norms, a TensorBoard folder or a "
                         f"NormRecorder, got {type(source).__name__}") from None
    if norms.ndim != 1:
        raise ValueError(f"norms must be one number per step (1-D), got shape {norms.shape}")
    return norms, "steps"


@dataclass(frozen=True)
class ThresholdSuggestion:
    """A suggested threshold, the statistic it came from and the share of the given steps it clips."""

    threshold: float
    statistic: str
    clip_rate: float
    norms: np.ndarray
    source: str

    def __repr__(self) -> str:
        return (f"ThresholdSuggestion(threshold={self.threshold:.4g}, statistic={self.statistic!r}, "
                f"clip_rate={self.clip_rate:.3f}, steps={len(self.norms)})")

    def plot(self, title: str | None = None, ax=None) -> Figure:
        """Histogram of the norms (log-spaced bins) with the suggested threshold as a line."""
        fig, (ax,) = _figure() if ax is None else (ax.figure, [ax])
        low, high = float(self.norms.min()), float(self.norms.max())
        bins = np.geomspace(low, high * (1 + 1e-6), 40) if high > low > 0 else 40
        ax.hist(self.norms, bins=bins, color=method_color("none"), alpha=0.6,
                label=f"{len(self.norms)} {self.source}")
        ax.axvline(self.threshold, color=THRESHOLD_COLOR, ls=":", lw=2,
                   label=f"threshold {self.threshold:.3g} ({self.statistic})")
        _finish(ax, "global gradient norm", "steps", title or f"Suggested threshold {self.threshold:.3g} "
                f"would clip {self.clip_rate:.1%} of these steps")
        ax.set_yscale("linear")
        if high > low > 0:
            ax.set_xscale("log")
        return fig


def suggest_threshold(source, *, percentile: float | None = None, multiple: float | None = None,
                      skip: int = 0) -> ThresholdSuggestion:
    """Suggest a global-norm clipping threshold from the norms of a short warm-up.

    Math: ``c = P_p(||g_t||)`` (the ``p``-th percentile, default 95) or
    ``c = m * mean(||g_t||)`` over the warm-up steps ``t``; ``clip_rate`` is the
    share of those steps with ``||g_t|| > c``. Non-finite norms are left out.

    Args:
      source: a ``History``, an array of per-step norms, a TensorBoard run
        folder written by ``train(log_dir=...)``, or a ``NormRecorder``.
      percentile: use this percentile of the norms (0 < p <= 100).
      multiple: use this multiple of the mean norm instead (Pascanu et al.:
        half to ten times the average). Give one of the two at most.
      skip: leave out the first ``skip`` steps (the first steps of a fresh
        model often have atypical norms).

    Returns:
      A ``ThresholdSuggestion`` with ``threshold``, ``statistic``,
      ``clip_rate``, the ``norms`` used and ``.plot()``.

    >>> s = suggest_threshold(np.arange(1.0, 101.0))
    >>> s.threshold, s.statistic, s.clip_rate
    (95.05, '95th percentile', 0.05)
    >>> suggest_threshold([1.0, 2.0, 3.0], multiple=2.0).threshold
    4.0
    """
    if percentile is not None and multiple is not None:
        raise ValueError("give percentile or multiple, not both")
    if percentile is None and multiple is None:
        percentile = 95.0
    if percentile is not None and not (isinstance(percentile, (int, float)) and 0 < percentile <= 100):
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    if multiple is not None and not (isinstance(multiple, (int, float)) and math.isfinite(multiple)
                                     and multiple > 0):
        raise ValueError(f"multiple must be a finite number > 0, got {multiple!r}")
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise ValueError(f"skip must be an integer >= 0, got {skip!r}")
    norms, where = _norms_from(source)
    norms = norms[skip:]
    norms = norms[np.isfinite(norms)]
    if len(norms) < 2:
        raise ValueError(f"need at least 2 finite norms after skip={skip}, got {len(norms)}")
    if percentile is not None:
        threshold = float(np.percentile(norms.astype(np.float64), percentile))
        statistic = f"{percentile:g}th percentile"
    else:
        threshold = float(multiple * np.mean(norms.astype(np.float64)))
        statistic = f"{multiple:g} x mean"
    clip_rate = float(np.mean(norms > threshold))
    return ThresholdSuggestion(threshold, statistic, clip_rate, norms, where)
