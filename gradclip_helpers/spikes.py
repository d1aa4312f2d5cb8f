"""Skip-on-spike: hold back an update whose gradient norm is an outlier, instead of clipping it.

Clipping shrinks a spike's gradient but still applies it (and still feeds it to
Adam's moment estimates). Large-scale training code goes one step further and
skips such a step altogether: OLMo-core's ``SkipStepOptimizer`` skips a step
whose loss or gradient norm lies more than ``sigma_factor`` (6) standard
deviations above the mean of a rolling window (128 steps); levanter's
``skip_bad_steps`` does the same. ZClip (Kumar et al., 2025) uses the same
z-score, but to choose a clipping threshold.

``train(..., skip_spikes=SpikeSkipper(...))`` applies the policy; ``History``
records ``spike_skipped`` per step (and ``applied`` False there).
"""

from __future__ import annotations

import tensorflow as tf

from .clipping import check_threshold


class SpikeSkipper(tf.Module):
    """Decide per step whether the global gradient norm (optionally the loss) is a spike.

    A step is a spike when, after ``warmup`` recorded steps,
    ``value > mean + z * std`` over the last ``window`` recorded (not skipped,
    finite) steps. Skipped steps are not recorded, so a spike cannot inflate
    the statistics that judge the next one. The window lives in
    ``tf.Variable``s: it checkpoints with ``tf.train.Checkpoint`` and runs
    inside ``tf.function`` without branches.

    Args:
      z: how many standard deviations above the rolling mean is a spike (OLMo-core: 6).
      window: how many recent steps the mean and deviation cover (OLMo-core: 128).
      warmup: recorded steps before any step may be skipped.
      use_loss: also skip when the loss is a spike by the same rule.

    References:
      OLMo-core, ``olmo_core.optim.SkipStepOptimizer``; levanter, ``skip_bad_steps``;
      Kumar, Owen, Roy Chowdhury, Güra. ZClip. arXiv:2504.02507, 2025.

    >>> s = SpikeSkipper(z=3.0, window=8, warmup=4)
    >>> [bool(s.check(tf.constant(v), tf.constant(1.0))) for v in [1.0, 1.1, 0.9, 1.0, 1.05, 9.0, 1.0]]
    [False, False, False, False, False, True, False]
    """

    def __init__(self, z: float = 6.0, window: int = 128, warmup: int = 64, use_loss: bool = False):
        super().__init__(name="spike_skipper")
        self.z = check_threshold("z", z)
        for name, value, low in (("window", window, 2), ("warmup", warmup, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if warmup > window:
            raise ValueError(f"warmup ({warmup}) must be <= window ({window}): the statistics cover the window")
        if not isinstance(use_loss, bool):
            raise TypeError(f"use_loss must be True or False, got {use_loss!r}")
        self.window, self.warmup, self.use_loss = window, warmup, use_loss
        self.norms = tf.Variable(tf.zeros([window]), trainable=False, name="norms")
        self.losses = tf.Variable(tf.zeros([window]), trainable=False, name="losses")
        self.count = tf.Variable(0, trainable=False, dtype=tf.int64, name="count")

    def reset(self) -> None:
        """Forget the window."""
        for v in (self.norms, self.losses):
            v.assign(tf.zeros_like(v))
        self.count.assign(0)

    def _is_spike(self, values: tf.Variable, value: tf.Tensor, filled: tf.Tensor) -> tf.Tensor:
        n = tf.cast(tf.minimum(self.count, self.window), tf.float32)
        mean = tf.reduce_sum(tf.where(filled, values, 0.0)) / tf.maximum(n, 1.0)
        var = tf.reduce_sum(tf.where(filled, tf.square(values - mean), 0.0)) / tf.maximum(n, 1.0)
        return value > mean + self.z * tf.sqrt(var)

    def check(self, norm: tf.Tensor, loss: tf.Tensor) -> tf.Tensor:
        """True (a bool tensor) if this step should be skipped; records the step otherwise."""
        norm, loss = tf.cast(norm, tf.float32), tf.cast(loss, tf.float32)
        filled = tf.range(self.window, dtype=tf.int64) < self.count
        spike = self._is_spike(self.norms, norm, filled)
        if self.use_loss:
            spike = tf.logical_or(spike, self._is_spike(self.losses, loss, filled))
        spike = tf.logical_and(self.count >= self.warmup, spike)
        record = tf.logical_and(tf.logical_not(spike), tf.math.is_finite(norm) & tf.math.is_finite(loss))
        at = tf.one_hot(self.count % self.window, self.window, on_value=True, off_value=False) & record
        self.norms.assign(tf.where(at, norm, self.norms))
        self.losses.assign(tf.where(at, loss, self.losses))
        self.count.assign_add(tf.cast(record, tf.int64))
        return spike

    def __repr__(self) -> str:
        return f"SpikeSkipper(z={self.z!r}, window={self.window}, warmup={self.warmup}, use_loss={self.use_loss})"
