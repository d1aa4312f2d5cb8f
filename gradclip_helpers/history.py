"""``History``: everything a ``train()`` run recorded, as numpy arrays (no TensorFlow here)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class History:
    """Everything ``train()`` recorded, as numpy arrays.

    Per step (one entry per optimizer step attempted):
      loss, grad_norm (global norm before clipping), clipped_norm (after),
      clipped (clipping changed the gradient), applied (the update was applied),
      overflow (a ``LossScaleOptimizer`` skipped the step because its scaled
      gradients overflowed: it lowers its scale and goes on, this is not a divergence),
      spike_skipped (a ``SpikeSkipper`` held the update back),
      layer_norms (steps x variables, before clipping; only when asked).
    Per epoch: ``epochs["loss"]``, ``epochs["val_loss"]`` and one entry per metric,
    with the names and values ``model.fit`` would log.

    >>> h = History(loss=np.array([1.0, np.nan]), grad_norm=np.array([2.0, np.nan]),
    ...             clipped_norm=np.array([1.0, np.nan]), clipped=np.array([True, False]),
    ...             applied=np.array([True, False]), layer_norms=None, variable_names=["w"])
    >>> h.steps, h.diverged_at, h.clip_fraction
    (2, 1, 0.5)
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    clipped_norm: np.ndarray
    clipped: np.ndarray
    applied: np.ndarray
    layer_norms: np.ndarray | None
    variable_names: list[str]
    epochs: dict[str, np.ndarray] = field(default_factory=dict)
    method: str = "none"
    threshold: float | None = None
    interrupted: bool = False
    traces: int = 0  # how often the compiled step was traced (1 = no retracing)
    overflow: np.ndarray | None = None
    spike_skipped: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("overflow", "spike_skipped"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(len(self.loss), dtype=bool))

    @property
    def steps(self) -> int:
        return len(self.loss)

    @property
    def diverged_at(self) -> int | None:
        """Index of the first step whose loss or gradient norm was not finite, else None.

        Loss-scale overflows (``overflow``) are not divergence: the optimizer
        skipped them by design and lowered its scale.
        """
        bad = ~(np.isfinite(self.loss) & np.isfinite(self.grad_norm)) & ~self.overflow
        return int(np.argmax(bad)) if bad.any() else None

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def clip_fraction(self) -> float:
        """Share of steps on which clipping changed the gradient."""
        return float(np.mean(self.clipped)) if self.steps else 0.0

    @property
    def skipped_steps(self) -> int:
        """Number of updates not applied, whatever the reason (non-finite, overflow, spike)."""
        return int(np.sum(~self.applied))

    @property
    def overflow_steps(self) -> int:
        """Number of steps a ``LossScaleOptimizer`` skipped for overflow."""
        return int(np.sum(self.overflow))

    @property
    def spikes_skipped(self) -> int:
        """Number of updates a ``SpikeSkipper`` held back."""
        return int(np.sum(self.spike_skipped))

    @property
    def final_loss(self) -> float:
        """Training loss of the last epoch (as ``fit`` logs it); NaN if there is none."""
        losses = self.epochs.get("loss", np.array([]))
        return float(losses[-1]) if len(losses) else float("nan")

    def relative_loss(self, variance: float) -> float:
        """Final training loss over ``variance`` (for MSE and Var(y): 1.0 is predicting the mean)."""
        return self.final_loss / variance

    def to_dict(self) -> dict[str, object]:
        """A plain dict of lists and numbers (JSON-friendly)."""
        out: dict[str, object] = {
            name: getattr(self, name).tolist()
            for name in ("loss", "grad_norm", "clipped_norm", "clipped", "applied", "overflow", "spike_skipped")
        }
        out["layer_norms"] = None if self.layer_norms is None else self.layer_norms.tolist()
        out["variable_names"] = list(self.variable_names)
        out["epochs"] = {k: v.tolist() for k, v in self.epochs.items()}
        out.update(method=self.method, threshold=self.threshold, interrupted=self.interrupted,
                   diverged_at=self.diverged_at, traces=self.traces)
        return out
