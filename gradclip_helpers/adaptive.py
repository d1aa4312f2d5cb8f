"""Adaptive clippers: thresholds that follow the weights or the history of norms.

- ``AGCClipper``: adaptive gradient clipping (Brock et al., 2021), unit-wise
  ratio of gradient norm to weight norm.
- ``AutoClipClipper``: global-norm clipping at the p-th percentile of the
  norms seen so far (Seetharaman et al., 2020).
- ``ZClipClipper``: z-score spike detection on an exponential moving average
  of the norm (Kumar et al., 2025).

Their state lives in ``tf.Variable``s (each clipper is a ``tf.Module``), so
they run inside ``tf.function`` and can be saved with ``tf.train.Checkpoint``.
All three register with ``make_clipper`` under ``"agc"``, ``"autoclip"`` and
``"zclip"``. None has a Keras optimizer argument; use ``ClippingModel`` for
``model.fit``.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from .clipping import ClipResult, Clipper, Gradient, _check_lengths, check_threshold, global_norm, register_clipper


def unitwise_norm(x: tf.Tensor) -> tf.Tensor:
    """L2 norm per output unit, broadcastable to ``x``.

    Scalars and vectors (biases, gains) use their whole norm; a Dense kernel
    (in, out) one norm per column (the unit's fan-in); conv kernels
    (..., in, out) one per output channel over all other axes.

    >>> unitwise_norm(tf.constant([[3.0, 0.0], [4.0, 1.0]])).numpy().tolist()
    [[5.0, 1.0]]
    """
    x = tf.convert_to_tensor(x)
    if x.shape.rank is not None and x.shape.rank <= 1:
        return tf.norm(x)
    axes = list(range(x.shape.rank - 1))
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=axes, keepdims=True))


def _scale(grad: Gradient, scale: tf.Tensor) -> Gradient:
    if grad is None:
        return None
    if isinstance(grad, tf.IndexedSlices):
        return tf.IndexedSlices(grad.values * tf.cast(scale, grad.dtype), grad.indices, grad.dense_shape)
    return grad * tf.cast(scale, grad.dtype)


def _final_layer_mask(variables: Sequence[tf.Variable]) -> list[bool]:
    """True for the variables of the last layer (same path prefix as the last variable)."""
    def prefix(v):
        path = getattr(v, "path", v.name)
        return path.rsplit("/", 1)[0]

    last = prefix(variables[-1])
    return [prefix(v) == last for v in variables]


class AGCClipper(Clipper, tf.Module):
    """Adaptive gradient clipping: ``G_i <- G_i * lam * max(|W_i|, eps) / |G_i|`` where that ratio exceeds ``lam``.

    Args:
      threshold: lambda, the largest allowed unit-wise ``|G_i| / max(|W_i|, eps)`` (0.01 in NFNets).
      eps: the floor on weight norms, so zero-initialised weights can still move.
      exclude_final_layer: leave the last layer's gradients alone (NFNets'
        recipe: with plain SGD each step moves a unit by at most lr * lambda of its
        weight norm, so a clipped output layer cannot scale the output up quickly).

    References:
      Brock, De, Smith, Simonyan. High-performance large-scale image
      recognition without normalization. ICML 2021.

    >>> w = [tf.Variable([[1.0], [0.0]], name="k")]
    >>> AGCClipper(0.1, exclude_final_layer=False).clip([tf.constant([[1.0], [0.0]])], w).grads[0].numpy().tolist()
    [[0.10000000149011612], [0.0]]
    """

    method = "agc"

    def __init__(self, threshold: float = 0.01, eps: float = 1e-3, exclude_final_layer: bool = True):
        tf.Module.__init__(self, name="agc_clipper")
        self.threshold = check_threshold("threshold", threshold)
        self.eps = check_threshold("eps", eps)
        self.exclude_final_layer = exclude_final_layer

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        if variables is None:
            raise ValueError("AGC needs the variables: call clip(grads, variables)")
        _check_lengths(grads, variables)
        excluded = _final_layer_mask(variables) if self.exclude_final_layer else [False] * len(grads)
        out: list[Gradient] = []
        flags = []
        for g, w, skip in zip(grads, variables, excluded):
            if g is None or skip:
                out.append(g)
                continue
            g = tf.convert_to_tensor(g)
            max_norm = tf.maximum(unitwise_norm(tf.cast(w, tf.float32)), self.eps) * self.threshold
            g_norm = unitwise_norm(tf.cast(g, tf.float32))
            trigger = g_norm > max_norm
            scale = tf.where(trigger, max_norm / tf.maximum(g_norm, 1e-6), tf.ones_like(g_norm))
            out.append(g * tf.cast(scale, g.dtype))
            flags.append(tf.reduce_any(trigger))
        clipped = tf.reduce_any(tf.stack(flags)) if flags else tf.constant(False)
        return ClipResult(out, clipped)

    def __repr__(self) -> str:
        return f"AGCClipper(threshold={self.threshold!r}, eps={self.eps!r}, exclude_final_layer={self.exclude_final_layer})"


def percentile(values: tf.Tensor, p: float) -> tf.Tensor:
    """The p-th percentile of a 1-D tensor with linear interpolation (``np.percentile``'s default).

    >>> round(float(percentile(tf.constant([1.0, 2.0, 3.0, 4.0, 5.0]), 10)), 4)
    1.4
    """
    v = tf.sort(tf.reshape(values, [-1]))
    n = tf.cast(tf.size(v), tf.float32)
    pos = (n - 1.0) * p / 100.0
    lo = tf.cast(tf.floor(pos), tf.int32)
    hi = tf.minimum(lo + 1, tf.size(v) - 1)
    frac = pos - tf.floor(pos)
    return tf.gather(v, lo) * (1.0 - frac) + tf.gather(v, hi) * frac


class AutoClipClipper(Clipper, tf.Module):
    """Global-norm clipping at the p-th percentile of all global norms seen so far.

    During the first ``warmup_steps`` steps the history is too short to trust
    (one early spike sets a useless percentile), so the fixed ``threshold`` is
    used instead. Non-finite norms are not added to the history.

    Args:
      threshold: the fixed global-norm threshold used during warm-up.
      percentile: p in [0, 100] (the paper recommends about 10).
      warmup_steps: steps before the percentile is used.
      history_size: the ring buffer length (the newest norms are kept).

    References:
      Seetharaman, Wichern, Pardo, Le Roux. AutoClip: adaptive gradient
      clipping for source separation networks. MLSP 2020.
    """

    method = "autoclip"

    def __init__(self, threshold: float = 1.0, percentile: float = 10.0, warmup_steps: int = 50,
                 history_size: int = 1000):
        tf.Module.__init__(self, name="autoclip_clipper")
        self.threshold = check_threshold("threshold", threshold)
        if not 0.0 <= float(percentile) <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], got {percentile!r}")
        if int(warmup_steps) < 0 or int(history_size) < 1:
            raise ValueError(f"warmup_steps must be >= 0 and history_size >= 1, got {warmup_steps!r}, {history_size!r}")
        self.percentile = float(percentile)
        self.warmup_steps = int(warmup_steps)
        self.history_size = int(history_size)
        self.history = tf.Variable(tf.zeros([self.history_size]), trainable=False, name="history")
        self.count = tf.Variable(0, trainable=False, dtype=tf.int64, name="count")

    def reset(self) -> None:
        """Forget the history."""
        self.history.assign(tf.zeros_like(self.history))
        self.count.assign(0)

    def _threshold(self) -> tf.Tensor:
        # Called after the current norm was recorded: step k (from 0) sees count k + 1.
        n = tf.cast(tf.minimum(self.count, self.history_size), tf.int32)
        return tf.cond(
            self.count <= self.warmup_steps,
            lambda: tf.constant(self.threshold),
            lambda: percentile(self.history[:n], self.percentile),
        )

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        _check_lengths(grads, variables)
        norm = global_norm(grads) if norm is None else norm

        def record():
            self.history.scatter_nd_update([[tf.cast(self.count % self.history_size, tf.int32)]], [norm])
            self.count.assign_add(1)
            return tf.constant(True)

        tf.cond(tf.math.is_finite(norm), record, lambda: tf.constant(False))
        threshold = self._threshold()
        clipped, _ = tf.clip_by_global_norm(list(grads), threshold, use_norm=norm)
        return ClipResult(clipped, norm > threshold)

    def __repr__(self) -> str:
        return (f"AutoClipClipper(threshold={self.threshold!r}, percentile={self.percentile!r}, "
                f"warmup_steps={self.warmup_steps})")


class ZClipClipper(Clipper, tf.Module):
    """Global-norm clipping of norm spikes found by a z-score on an EMA of the norm.

    After ``warmup_steps`` norms (mean and variance initialised from them),
    each step computes ``z = (|g| - mu) / (sigma + eps)``; if ``z > z_thresh``
    the gradient is clipped to ``mu + z_thresh * sigma / (z / z_thresh)``
    (harsher for bigger outliers). The EMA (``alpha``) is updated with the
    norm after clipping. ``threshold``, if given, is a hard cap on every step.

    References:
      Kumar, Owen, Roy Chowdhury, Güra. ZClip: adaptive spike mitigation for
      LLM pre-training. arXiv:2504.02507, 2025.
    """

    method = "zclip"

    def __init__(self, threshold: float | None = None, alpha: float = 0.97, z_thresh: float = 2.5,
                 warmup_steps: int = 25, eps: float = 1e-6):
        tf.Module.__init__(self, name="zclip_clipper")
        self.threshold = None if threshold is None else check_threshold("threshold", threshold)
        if not 0.0 < float(alpha) < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        self.alpha = float(alpha)
        self.z_thresh = check_threshold("z_thresh", z_thresh)
        self.warmup_steps = max(int(warmup_steps), 1)
        self.eps = float(eps)
        self.mean = tf.Variable(0.0, trainable=False, name="mean")
        self.var = tf.Variable(0.0, trainable=False, name="var")
        self.count = tf.Variable(0, trainable=False, dtype=tf.int64, name="count")
        self.warmup = tf.Variable(tf.zeros([self.warmup_steps]), trainable=False, name="warmup_norms")

    def reset(self) -> None:
        for v in (self.mean, self.var, self.warmup):
            v.assign(tf.zeros_like(v))
        self.count.assign(0)

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        _check_lengths(grads, variables)
        grads = list(grads)
        norm = global_norm(grads) if norm is None else norm
        cap = tf.constant(float("inf") if self.threshold is None else self.threshold)
        finite = tf.math.is_finite(norm)
        in_warmup = self.count < self.warmup_steps

        def warmup_step():
            def record():
                self.warmup.scatter_nd_update([[tf.cast(self.count, tf.int32)]], [norm])
                self.count.assign_add(1)

                def initialise():
                    self.mean.assign(tf.reduce_mean(self.warmup))
                    self.var.assign(tf.math.reduce_variance(self.warmup))
                    return tf.constant(True)

                tf.cond(self.count >= self.warmup_steps, initialise, lambda: tf.constant(False))
                return tf.constant(True)

            tf.cond(finite, record, lambda: tf.constant(False))
            return cap

        def detect_step():
            std = tf.sqrt(self.var)
            z = (norm - self.mean) / (std + self.eps)
            spike = z > self.z_thresh
            limit = self.mean + self.z_thresh * std / tf.maximum(z / self.z_thresh, 1.0)
            threshold = tf.where(spike, tf.minimum(limit, cap), cap)

            def update():
                x = tf.minimum(norm, threshold)
                self.mean.assign(self.alpha * self.mean + (1 - self.alpha) * x)
                self.var.assign(self.alpha * self.var + (1 - self.alpha) * tf.square(x - self.mean))
                return tf.constant(True)

            tf.cond(finite, update, lambda: tf.constant(False))
            return threshold

        threshold = tf.cond(in_warmup, warmup_step, detect_step)
        # Most steps have no threshold at all (inf); tf.clip_by_global_norm returns
        # NaN for clip_norm=inf before TF PR #109327, so scale explicitly here.
        clipped = norm > threshold
        scale = tf.where(clipped, threshold / norm, 1.0)
        return ClipResult([_scale(g, scale) for g in grads], clipped)

    def __repr__(self) -> str:
        return (f"ZClipClipper(threshold={self.threshold!r}, alpha={self.alpha!r}, "
                f"z_thresh={self.z_thresh!r}, warmup_steps={self.warmup_steps})")


register_clipper("agc", AGCClipper)
register_clipper("autoclip", AutoClipClipper)
register_clipper("zclip", ZClipClipper)
