"""Adaptive clippers: thresholds that follow the weights or the history of norms.

- ``AGCClipper``: adaptive gradient clipping (Brock et al., 2021), unit-wise
  ratio of gradient norm to weight norm.
- ``AutoClipClipper``: global-norm clipping at the p-th percentile of the
  norms seen so far (Seetharaman et al., 2020).
- ``ZClipClipper``: z-score spike detection on an exponential moving average
  of the norm (Kumar et al., 2025).

Their state and their hyper-parameters live in ``tf.Variable``s (each clipper
is a ``tf.Module``), so they run inside ``tf.function``, can be saved with
``tf.train.Checkpoint``, and changing a hyper-parameter (``clipper.threshold =
0.5``) is an assignment that a compiled training step sees at its next call,
not a retrace. Each step runs the same ops whatever the state: warm-ups are
``tf.where`` selections and counters are updated every step (by 0 or 1), so
there is no ``tf.cond`` and no per-step sort.
All three register with ``make_clipper`` under ``"agc"``, ``"autoclip"`` and
``"zclip"``. None has a Keras optimizer argument; use ``ClippingModel`` for
``model.fit``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import tensorflow as tf

from .clipping import Clipper, ClipResult, Gradient, _check_lengths, check_threshold, global_norm, register_clipper


def unitwise_norm(x: tf.Tensor, keepdims: bool = True) -> tf.Tensor:
    """L2 norm per output unit, broadcastable to ``x``.

    Scalars and vectors (biases, gains) use their whole norm; a Dense kernel
    (in, out) one norm per column (the unit's fan-in); conv kernels
    (..., in, out) one per output channel over all other axes, kept as axes of
    size 1 unless ``keepdims=False`` (then ``(out,)``, still broadcastable).

    >>> unitwise_norm(tf.constant([[3.0, 0.0], [4.0, 1.0]])).numpy().tolist()
    [[5.0, 1.0]]
    """
    x = tf.convert_to_tensor(x)
    if x.shape.rank is not None and x.shape.rank <= 1:
        return tf.sqrt(tf.reduce_sum(tf.square(x)))
    axes = list(range(x.shape.rank - 1))
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=axes, keepdims=keepdims))


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


class _Setting:
    """A hyper-parameter kept in the clipper's float32 ``settings`` variable, at ``index``.

    Reading gives a Python number (the float32 value's shortest decimal, so 0.97
    reads back as 0.97); setting checks the value and assigns it, so a compiled
    step that reads ``settings`` sees it at its next call without a retrace. One
    variable read per step serves every hyper-parameter of a clipper.
    """

    def __init__(self, index: int, check: Callable[[str, object], float], doc: str, integer: bool = False,
                 none_for_inf: bool = False):
        self.index, self.check, self.integer, self.none_for_inf, self.__doc__ = index, check, integer, none_for_inf, doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        value = obj.settings.numpy()[self.index]
        if self.none_for_inf and value == float("inf"):
            return None
        return int(value) if self.integer else float(str(value))

    def __set__(self, obj, value: object) -> None:
        _assign_settings(obj.settings, {self.index: self.check(self.name, value)})


def _settings(*values: float) -> tf.Variable:
    return tf.Variable(values, dtype=tf.float32, trainable=False, name="settings")


def _assign_settings(settings: tf.Variable, changes: dict[int, float]) -> None:
    # The whole vector in one assignment (a distributed variable has no sliced assignment).
    values = settings.numpy().copy()
    for index, value in changes.items():
        values[index] = value
    settings.assign(values)


def _check_percentile(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 100.0:
        raise ValueError(f"{name} must be in [0, 100], got {value!r}")
    return float(value)


def _check_steps(name: str, value: object, least: int = 0) -> int:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer()
            or value < least):
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def _check_alpha(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)


def _check_cap(name: str, value: object) -> float:
    return float("inf") if value is None else check_threshold(name, value)


class AGCClipper(Clipper, tf.Module):
    """Adaptive gradient clipping: ``G_i <- G_i * lam * max(|W_i|, eps) / |G_i|`` where that ratio exceeds ``lam``.

    Args:
      threshold: lambda, the largest allowed unit-wise ``|G_i| / max(|W_i|, eps)`` (0.01 in NFNets).
      eps: the floor on weight norms, so zero-initialised weights can still move.
      exclude_final_layer: leave the last layer's gradients alone (NFNets'
        recipe: with plain SGD each step moves a unit by at most lr * lambda of its
        weight norm, so a clipped output layer cannot scale the output up quickly).
        Fixed at construction: it decides which ops the step runs.

    ``threshold`` and ``eps`` can be set on a live clipper (``clipper.threshold = 0.02``).

    References:
      Brock, De, Smith, Simonyan. High-performance large-scale image
      recognition without normalization. ICML 2021.

    >>> w = [tf.Variable([[1.0], [0.0]], name="k")]
    >>> AGCClipper(0.1, exclude_final_layer=False).clip([tf.constant([[1.0], [0.0]])], w).grads[0].numpy().tolist()
    [[0.10000000149011612], [0.0]]
    """

    method = "agc"
    threshold = _Setting(0, check_threshold, "lambda, the largest unit-wise gradient-to-weight norm ratio")
    eps = _Setting(1, check_threshold, "the floor on unit weight norms")

    def __init__(self, threshold: float = 0.01, eps: float = 1e-3, exclude_final_layer: bool = True):
        tf.Module.__init__(self, name="agc_clipper")
        self.settings = _settings(check_threshold("threshold", threshold), check_threshold("eps", eps))
        self.exclude_final_layer = exclude_final_layer

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        if variables is None:
            raise ValueError("AGC needs the variables: call clip(grads, variables)")
        _check_lengths(grads, variables)
        excluded = _final_layer_mask(variables) if self.exclude_final_layer else [False] * len(grads)
        lam, eps = tf.unstack(self.settings.read_value())
        out: list[Gradient] = []
        smallest = []
        for g, w, skip in zip(grads, variables, excluded):
            if g is None or skip:
                out.append(g)
                continue
            g = tf.convert_to_tensor(g)
            max_norm = tf.maximum(unitwise_norm(tf.cast(w, tf.float32), keepdims=False), eps) * lam
            g_norm = unitwise_norm(tf.cast(g, tf.float32), keepdims=False)
            # min(1, ratio) is 1 exactly where |G_i| <= max_norm (max_norm >= 1e-6, as with the defaults).
            scale = tf.minimum(max_norm / tf.maximum(g_norm, 1e-6), 1.0)
            out.append(g * tf.cast(scale, g.dtype))
            smallest.append(tf.reduce_min(scale))
        clipped = tf.reduce_min(tf.stack(smallest)) < 1.0 if smallest else tf.constant(False)
        return ClipResult(out, clipped)

    def __repr__(self) -> str:
        return (f"AGCClipper(threshold={self.threshold!r}, eps={self.eps!r}, "
                f"exclude_final_layer={self.exclude_final_layer})")


def percentile(values: tf.Tensor, p: float | tf.Tensor, size: int | tf.Tensor | None = None) -> tf.Tensor:
    """The p-th percentile of the first ``size`` values (default all), with linear interpolation.

    Linear interpolation between the two nearest ranks is ``np.percentile``'s
    default (``method="linear"``): with the values sorted, position
    ``pos = (n - 1) * p / 100``, result ``v[lo] * (1 - f) + v[hi] * f`` with
    ``lo = floor(pos)``, ``hi = min(lo + 1, n - 1)``, ``f = pos - lo``, all in
    float32. Only the smallest ``hi + 1`` values are ranked (``tf.math.top_k``),
    not the whole buffer sorted, and the slots from ``size`` on are masked, so a
    fixed-size buffer that is still filling up needs no slice of data-dependent
    shape. ``size`` 0 gives NaN.

    >>> round(float(percentile(tf.constant([1.0, 2.0, 3.0, 4.0, 5.0]), 10)), 4)
    1.4
    >>> float(percentile(tf.constant([4.0, 2.0, 9.0, 0.0]), 50, size=2))  # of [4, 2]
    3.0
    """
    v = tf.reshape(tf.cast(values, tf.float32), [-1])
    if size is None:
        return _percentile_of_smallest(v, tf.size(v), p)
    size = tf.minimum(tf.cast(size, tf.int32), tf.size(v))
    return _percentile_of_smallest(tf.where(tf.range(tf.size(v)) < size, v, float("inf")), size, p)


def _percentile_of_smallest(v: tf.Tensor, n: tf.Tensor, p: float | tf.Tensor) -> tf.Tensor:
    """``percentile`` of the ``n`` smallest entries of the 1-D float32 ``v`` (no other entry is smaller)."""
    n = tf.maximum(n, 1)
    pos = (tf.cast(n, tf.float32) - 1.0) * tf.cast(p, tf.float32) / 100.0
    floor = tf.floor(pos)
    lo = tf.cast(floor, tf.int32)
    hi = tf.minimum(lo + 1, n - 1)
    frac = pos - floor
    ranked = tf.math.top_k(-v, hi + 1).values  # minus the smallest hi + 1 values, ascending
    return -tf.gather(ranked, lo) * (1.0 - frac) + -tf.gather(ranked, hi) * frac


class AutoClipClipper(Clipper, tf.Module):
    """Global-norm clipping at the p-th percentile of all global norms seen so far.

    During the first ``warmup_steps`` steps the history is too short to trust
    (one early spike sets a useless percentile), so the fixed ``threshold`` is
    used instead. Non-finite norms are not added to the history.

    Args:
      threshold: the fixed global-norm threshold used during warm-up.
      percentile: p in [0, 100] (the paper recommends about 10).
      warmup_steps: steps before the percentile is used.
      history_size: the ring buffer length (the newest norms are kept; slots
        not filled yet hold +inf); fixed at construction.

    ``threshold``, ``percentile`` and ``warmup_steps`` can be set on a live
    clipper; the history is kept.

    References:
      Seetharaman, Wichern, Pardo, Le Roux. AutoClip: adaptive gradient
      clipping for source separation networks. MLSP 2020.

    >>> clipper = AutoClipClipper(threshold=2.0, percentile=50, warmup_steps=1)
    >>> [round(float(clipper.clip([tf.constant([x])]).grads[0][0]), 3) for x in (1.0, 4.0, 3.0)]
    [1.0, 2.5, 3.0]
    """

    method = "autoclip"
    threshold = _Setting(0, check_threshold, "the fixed global-norm threshold of the warm-up")
    percentile = _Setting(1, _check_percentile, "p in [0, 100]")
    warmup_steps = _Setting(2, _check_steps, "steps before the percentile is used", integer=True)

    def __init__(self, threshold: float = 1.0, percentile: float = 10.0, warmup_steps: int = 50,
                 history_size: int = 1000):
        tf.Module.__init__(self, name="autoclip_clipper")
        self.settings = _settings(check_threshold("threshold", threshold), _check_percentile("percentile", percentile),
                                  _check_steps("warmup_steps", warmup_steps))
        self.history_size = _check_steps("history_size", history_size, least=1)
        # Unfilled slots hold +inf: they rank after every norm, so the percentile needs no mask.
        self.history = tf.Variable(tf.fill([self.history_size], float("inf")), trainable=False, name="history")
        self.count = tf.Variable(0, trainable=False, dtype=tf.int64, name="count")

    def reset(self) -> None:
        """Forget the history."""
        self.history.assign(tf.fill([self.history_size], float("inf")))
        self.count.assign(0)

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        _check_lengths(grads, variables)
        norm = global_norm(grads) if norm is None else norm
        fixed, p, warmup_steps = tf.unstack(self.settings.read_value())
        finite = tf.math.is_finite(norm)
        # Every step writes its slot (a non-finite norm writes back what was there) and
        # advances the count by 0 or 1; step k (from 0) then sees count k + 1.
        count = self.count.read_value()
        slot = tf.cast(count % self.history_size, tf.int32)
        self.history.scatter_nd_update([[slot]], [tf.where(finite, norm, self.history[slot])])
        count += tf.cast(finite, tf.int64)
        self.count.assign(count)
        n = tf.cast(tf.minimum(count, self.history_size), tf.int32)
        threshold = tf.where(tf.cast(count, tf.float32) <= warmup_steps, fixed,
                             _percentile_of_smallest(self.history.read_value(), n, p))
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

    ``threshold`` (``None``: no cap), ``alpha``, ``z_thresh`` and ``eps`` can
    be set on a live clipper; ``warmup_steps`` is fixed at construction (it
    sizes the buffer of warm-up norms).

    References:
      Kumar, Owen, Roy Chowdhury, Güra. ZClip: adaptive spike mitigation for
      LLM pre-training. arXiv:2504.02507, 2025.

    >>> clipper = ZClipClipper(warmup_steps=4)
    >>> for x in (9.0, 11.0, 9.0, 11.0):
    ...     _ = clipper.clip([tf.constant([x])])
    >>> float(clipper.mean), float(clipper.var), bool(clipper.clip([tf.constant([100.0])]).clipped)
    (10.0, 1.0, True)
    """

    method = "zclip"
    threshold = _Setting(0, _check_cap, "the hard cap on every step's global norm, None for none", none_for_inf=True)
    z_thresh = _Setting(3, check_threshold, "the z-score above which a norm is a spike")
    eps = _Setting(4, check_threshold, "added to the standard deviation")

    def __init__(self, threshold: float | None = None, alpha: float = 0.97, z_thresh: float = 2.5,
                 warmup_steps: int = 25, eps: float = 1e-6):
        tf.Module.__init__(self, name="zclip_clipper")
        alpha = _check_alpha("alpha", alpha)
        # [cap, alpha, 1 - alpha, z_thresh, eps]; 1 - alpha is computed in Python (float64), as
        # the EMA's weight always was, not in float32 from alpha.
        self.settings = _settings(_check_cap("threshold", threshold), alpha, 1.0 - alpha,
                                  check_threshold("z_thresh", z_thresh), check_threshold("eps", eps))
        self.warmup_steps = max(int(warmup_steps), 1)
        self.mean = tf.Variable(0.0, trainable=False, name="mean")
        self.var = tf.Variable(0.0, trainable=False, name="var")
        self.count = tf.Variable(0, trainable=False, dtype=tf.int64, name="count")
        self.warmup = tf.Variable(tf.zeros([self.warmup_steps]), trainable=False, name="warmup_norms")

    @property
    def alpha(self) -> float:
        """The EMA's weight on the past, in (0, 1)."""
        return float(str(self.settings.numpy()[1]))

    @alpha.setter
    def alpha(self, value: float) -> None:
        value = _check_alpha("alpha", value)
        _assign_settings(self.settings, {1: value, 2: 1.0 - value})

    def reset(self) -> None:
        for v in (self.mean, self.var, self.warmup):
            v.assign(tf.zeros_like(v))
        self.count.assign(0)

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        _check_lengths(grads, variables)
        grads = list(grads)
        norm = global_norm(grads) if norm is None else norm
        cap, alpha, rest, z_thresh, eps = tf.unstack(self.settings.read_value())
        finite = tf.math.is_finite(norm)
        count = self.count.read_value()
        in_warmup = count < self.warmup_steps
        detect = tf.logical_not(in_warmup)

        # Warm-up: the norm goes to slot `count` and the count grows by 1 (by 0 after the
        # warm-up or for a non-finite norm); the step that fills the buffer sets mean and var.
        record = tf.logical_and(in_warmup, finite)
        slot = tf.range(self.warmup_steps, dtype=tf.int64) == count
        warmup = tf.where(tf.logical_and(slot, record), norm, self.warmup.read_value())
        self.warmup.assign(warmup)
        self.count.assign_add(tf.cast(record, tf.int64))
        initialise = tf.logical_and(record, tf.equal(count, self.warmup_steps - 1))
        warmup_mean = tf.reduce_mean(warmup)
        warmup_var = tf.reduce_mean(tf.math.squared_difference(warmup, warmup_mean))

        # Detection, on the statistics before this step.
        mean, var = self.mean.read_value(), self.var.read_value()
        std = tf.sqrt(var)
        z = (norm - mean) / (std + eps)
        spike = tf.logical_and(detect, z > z_thresh)
        limit = mean + z_thresh * std / tf.maximum(z / z_thresh, 1.0)
        threshold = tf.where(spike, tf.minimum(limit, cap), cap)
        x = tf.minimum(norm, threshold)
        ema_mean = alpha * mean + rest * x
        ema_var = alpha * var + rest * tf.square(x - ema_mean)
        update = tf.logical_and(detect, finite)
        self.mean.assign(tf.where(initialise, warmup_mean, tf.where(update, ema_mean, mean)))
        self.var.assign(tf.where(initialise, warmup_var, tf.where(update, ema_var, var)))

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
