"""Gradient clipping: the clip functions and the clipper objects.

The four functions mirror TensorFlow's own ops (``tf.clip_by_value``,
``tf.clip_by_norm``, ``tf.clip_by_global_norm``, ``tf.linalg.global_norm``)
and call them underneath. What they add is the same behaviour for every kind of
gradient list a training loop produces: any iterable, ``None`` entries,
``tf.IndexedSlices`` (from ``Embedding`` layers), and float16/bfloat16
gradients whose norms are computed in float32 so they cannot overflow.

``tf.IndexedSlices`` may name a row more than once (an ``Embedding`` whose
token occurs twice in a batch); the gradient is the *sum* of those rows. TF's
raw ops measure and clip the un-merged values, so ``tf.linalg.global_norm``
and ``tf.clip_by_norm`` disagree with the dense gradient there (and with Keras'
``clipnorm``/``global_clipnorm``, which densify first). The functions here
merge repeated rows first (``merge_duplicates``), so every norm and every clip
equals that of the dense gradient, while the result stays sparse.

The clipper objects (``make_clipper``) wrap one method and a threshold so a
training loop, a notebook parameter or a widget can pick a method by name.
This module knows nothing about Keras models; stateful (adaptive) clippers
live in ``adaptive.py``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import tensorflow as tf

Gradient = tf.Tensor | tf.IndexedSlices | None

_LOW_PRECISION = (tf.float16, tf.bfloat16)


def check_threshold(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a usable clipping threshold.

    A threshold must be a real number in (0, inf). Anything else raises a
    ``ValueError`` that names the argument, the value and the valid range.

    >>> check_threshold("clip_norm", 5)
    5.0
    >>> check_threshold("clip_norm", -1.0)
    Traceback (most recent call last):
    ...
    ValueError: clip_norm must be a finite number > 0, got -1.0
    """
    if isinstance(value, tf.Tensor) and not hasattr(value, "numpy"):
        raise ValueError(
            f"{name} must be a Python number, got a symbolic tensor {value!r}"
        )
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
        if getattr(value, "shape", ()) != ():
            raise ValueError(f"{name} must be a scalar, got shape {value.shape}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{name} must be a finite number > 0, got {value!r} "
            f"of type {type(value).__name__}"
        )
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def _as_list(grads: Iterable[Gradient]) -> list[Gradient]:
    if isinstance(grads, (tf.Tensor, tf.Variable, tf.IndexedSlices)):
        raise TypeError(
            "grads must be a list of gradients (one per variable), got a "
            "single tensor; wrap it in a list: [grad]"
        )
    return list(grads)


def merge_duplicates(grad: Gradient) -> Gradient:
    """Sum the rows of ``tf.IndexedSlices`` that share an index; anything else unchanged.

    After merging, the values' norm is the dense gradient's norm, and clipping
    the values clips the dense gradient.

    >>> g = tf.IndexedSlices(tf.constant([[3.0], [1.0]]), tf.constant([0, 0]), tf.constant([4, 1]))
    >>> m = merge_duplicates(g)
    >>> m.values.numpy().tolist(), m.indices.numpy().tolist()
    ([[4.0]], [0])
    """
    if not isinstance(grad, tf.IndexedSlices):
        return grad
    unique, positions = tf.unique(grad.indices)
    values = tf.math.unsorted_segment_sum(grad.values, positions, tf.shape(unique)[0])
    return tf.IndexedSlices(values, unique, grad.dense_shape)


def _map_values(grad: Gradient, fn: Callable[[tf.Tensor], tf.Tensor]) -> Gradient:
    """Apply ``fn`` to a dense gradient or to the merged values of IndexedSlices."""
    if grad is None:
        return None
    if isinstance(grad, tf.IndexedSlices):
        grad = merge_duplicates(grad)
        return tf.IndexedSlices(fn(grad.values), grad.indices, grad.dense_shape)
    return fn(tf.convert_to_tensor(grad))


def scale_gradient(grad: Gradient, factor: tf.Tensor | float) -> Gradient:
    """``grad * factor`` for a dense gradient, IndexedSlices or ``None``, in the gradient's dtype.

    >>> scale_gradient(tf.constant([1.0, 2.0]), 0.5).numpy().tolist()
    [0.5, 1.0]
    """
    if grad is None:
        return None
    if isinstance(grad, tf.IndexedSlices):
        return tf.IndexedSlices(grad.values * tf.cast(factor, grad.dtype), grad.indices, grad.dense_shape)
    return grad * tf.cast(factor, grad.dtype)


def _values(grad: tf.Tensor | tf.IndexedSlices) -> tf.Tensor:
    """The entries of a gradient: a dense tensor, or the merged values of IndexedSlices."""
    if isinstance(grad, tf.IndexedSlices):
        return merge_duplicates(grad).values
    return tf.convert_to_tensor(grad)


def squared_norms(grads: Iterable[Gradient]) -> list[tf.Tensor]:
    """Each gradient's squared L2 norm in float32 (``None`` entries give 0).

    Measure once, use often: the global norm is ``sqrt(sum(squared_norms))``,
    each tensor's norm the root of its own entry.

    >>> [float(s) for s in squared_norms([tf.constant([3.0, 4.0]), None])]
    [25.0, 0.0]
    """
    return [
        tf.constant(0.0) if g is None else tf.reduce_sum(tf.square(tf.cast(_values(g), tf.float32)))
        for g in _as_list(grads)
    ]


def _in_float32(fn: Callable[[tf.Tensor], tf.Tensor]) -> Callable[[tf.Tensor], tf.Tensor]:
    """Run ``fn`` in float32 for float16/bfloat16 input, then cast back."""

    def wrapped(t: tf.Tensor) -> tf.Tensor:
        if t.dtype in _LOW_PRECISION:
            return tf.cast(fn(tf.cast(t, tf.float32)), t.dtype)
        return fn(t)

    return wrapped


def clip_by_value(grads: Iterable[Gradient], clip_value: float) -> list[Gradient]:
    """Clip every gradient entry into ``[-clip_value, clip_value]``.

    Math: ``g_i <- min(max(g_i, -c), c)`` for every entry of every tensor.
    The direction of the gradient changes whenever any entry is clipped.

    Args:
      grads: gradients, one per variable (``None`` and IndexedSlices allowed).
      clip_value: the bound ``c > 0``.

    Returns:
      A list of clipped gradients, ``None`` where the input was ``None``.

    >>> [g.numpy().tolist() for g in clip_by_value([tf.constant([-3.0, 0.5, 2.0])], 1.0)]
    [[-1.0, 0.5, 1.0]]
    """
    c = check_threshold("clip_value", clip_value)
    return [
        _map_values(g, lambda t: tf.clip_by_value(t, -tf.cast(c, t.dtype), tf.cast(c, t.dtype)))
        for g in _as_list(grads)
    ]


def clip_by_norm(grads: Iterable[Gradient], clip_norm: float) -> list[Gradient]:
    """Clip each gradient tensor on its own L2 norm (per-tensor clipping).

    Math: ``g_k <- g_k * c / max(||g_k||, c)`` separately for every tensor k.
    This is Keras' ``clipnorm`` and the seed article's ``tf.clip_by_norm``
    loop; it does *not* keep the direction of the whole update.

    Args:
      grads: gradients, one per variable (``None`` and IndexedSlices allowed).
      clip_norm: the largest norm any one tensor may have, ``c > 0``.

    Returns:
      A list of clipped gradients, ``None`` where the input was ``None``.

    >>> [g.numpy().tolist() for g in clip_by_norm([tf.constant([3.0, 4.0]), tf.constant([0.6, 0.8])], 1.0)]
    [[0.6000000238418579, 0.800000011920929], [0.6000000238418579, 0.800000011920929]]
    """
    c = check_threshold("clip_norm", clip_norm)
    clip_one = _in_float32(lambda t: tf.clip_by_norm(t, tf.cast(c, t.dtype)))
    return [_map_values(g, clip_one) for g in _as_list(grads)]


def global_norm(grads: Iterable[Gradient]) -> tf.Tensor:
    """The L2 norm of all gradients taken together, as float32.

    Math: ``sqrt(sum_k ||g_k||^2)``. ``None`` entries are ignored;
    low-precision tensors are cast to float32 first, so ``[300] * 4`` in
    float16 gives 600 instead of overflowing to inf.

    Repeated rows of ``tf.IndexedSlices`` are summed first, so this is the
    norm of the dense gradient (``tf.linalg.global_norm`` on the raw slices
    measures the un-merged values instead).

    >>> float(global_norm([tf.constant([3.0]), None, tf.constant([4.0])]))
    5.0
    """
    values = [tf.cast(_values(g), tf.float32) for g in _as_list(grads) if g is not None]
    return tf.linalg.global_norm(values)


def clip_by_global_norm(
    grads: Iterable[Gradient], clip_norm: float, use_norm: tf.Tensor | None = None
) -> tuple[list[Gradient], tf.Tensor]:
    """Scale all gradients together so their global norm is at most ``clip_norm``.

    Math: ``g_k <- g_k * c / max(||g||, c)`` with ``||g||`` the global norm
    (Pascanu et al., 2013; Keras ``global_clipnorm``). Every tensor is scaled
    by the same factor, so the direction of the update is kept.

    As in ``tf.clip_by_global_norm``, a non-finite global norm turns every
    entry into NaN to signal the error; ``train()`` checks for it first.

    Args:
      grads: gradients, one per variable (``None`` and IndexedSlices allowed).
      clip_norm: the largest global norm, ``c > 0``.
      use_norm: a global norm already computed (for example for logging).

    Returns:
      ``(clipped, norm)``: the clipped list and the global norm *before*
      clipping.

    References:
      Pascanu, Mikolov, Bengio. On the difficulty of training recurrent
      neural networks. ICML 2013.

    >>> clipped, norm = clip_by_global_norm([tf.constant([3.0]), tf.constant([4.0])], 1.0)
    >>> [round(float(g[0]), 3) for g in clipped], float(norm)
    ([0.6, 0.8], 5.0)
    """
    c = check_threshold("clip_norm", clip_norm)
    grads = [merge_duplicates(g) for g in _as_list(grads)]
    norm = global_norm(grads) if use_norm is None else tf.cast(use_norm, tf.float32)
    clipped, _ = tf.clip_by_global_norm(grads, c, use_norm=norm)
    return clipped, norm


# --------------------------------------------------------------------------
# Clipper objects


class ClipResult(NamedTuple):
    """What a clipper did to one gradient list.

    Attributes:
      grads: the clipped gradients.
      clipped: scalar bool tensor, True when clipping changed the gradient.
    """

    grads: list[Gradient]
    clipped: tf.Tensor


class Clipper:
    """Base class: clips a gradient list and says whether it changed it.

    Subclasses implement ``clip``. ``norm`` is the global norm of ``grads``
    when the caller already has it (the training loop computes it for its
    records), so global clipping need not compute it twice.
    """

    method: str = ""
    threshold: float | None = None

    def clip(
        self,
        grads: Sequence[Gradient],
        variables: Sequence[tf.Variable] | None = None,
        norm: tf.Tensor | None = None,
    ) -> ClipResult:
        raise NotImplementedError

    def clip_measured(
        self,
        grads: Sequence[Gradient],
        variables: Sequence[tf.Variable] | None,
        squared: Sequence[tf.Tensor],
    ) -> ClipResult:
        """``clip`` for a caller that has measured ``squared_norms(grads)`` already.

        The training loop measures every tensor once per step and derives the
        global norm, the per-tensor norms and its records from that one
        measurement; clippers that need per-tensor norms reuse it here.
        """
        return self.clip(grads, variables, norm=tf.sqrt(tf.add_n(list(squared))) if squared else tf.constant(0.0))

    def __call__(self, grads: Iterable[Gradient]) -> list[Gradient]:
        """Clip ``grads`` and return only the clipped list."""
        return self.clip(_as_list(grads)).grads

    def keras_kwargs(self) -> dict[str, float]:
        """The Keras optimizer argument with the same effect, e.g. ``{"clipnorm": 5.0}``."""
        raise ValueError(
            f"clipper {self.method!r} has no Keras optimizer equivalent; "
            "use gradclip_helpers.ClippingModel to train with it in model.fit"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(threshold={self.threshold!r})"


def _check_lengths(grads: Sequence[Gradient], variables: Sequence[tf.Variable] | None) -> None:
    if variables is not None and len(grads) != len(variables):
        raise ValueError(
            f"got {len(grads)} gradients for {len(variables)} variables; "
            "pass one gradient per variable"
        )


def _any(flags: list[tf.Tensor]) -> tf.Tensor:
    return tf.reduce_any(tf.stack(flags)) if flags else tf.constant(False)


class NoClipper(Clipper):
    """Leaves the gradients as they are (the baseline)."""

    method = "none"

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        _check_lengths(grads, variables)
        return ClipResult(list(grads), tf.constant(False))

    def keras_kwargs(self) -> dict[str, float]:
        return {}

    def __repr__(self) -> str:
        return "NoClipper()"


class ThresholdClipper(Clipper):
    """A clipper with one threshold, kept in a ``tf.Variable``.

    Compiled training steps read the variable, so setting ``threshold`` on a
    running clipper (a slider, ``Trainer.set_clipper``) is an assignment, not
    a new trace. Invalid values raise and change nothing.

    >>> c = GlobalNormClipper(5.0)
    >>> c.threshold = 2.0
    >>> c.threshold, float(c.limit)
    (2.0, 2.0)
    """

    def __init__(self, threshold: float):
        value = check_threshold("threshold", threshold)
        self.limit = tf.Variable(value, trainable=False, dtype=tf.float32, name=f"{self.method}_threshold")
        self._value = value

    @property
    def threshold(self) -> float:
        return self._value

    @threshold.setter
    def threshold(self, value: float) -> None:
        value = check_threshold("threshold", value)
        self.limit.assign(value)
        self._value = value


class ValueClipper(ThresholdClipper):
    """Element-wise clipping into ``[-threshold, threshold]`` (Keras ``clipvalue``, ``tf.clip_by_value``)."""

    method = "value"

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        _check_lengths(grads, variables)
        grads = [merge_duplicates(g) for g in grads]
        changed = [tf.reduce_any(tf.abs(_values(g)) > tf.cast(self.limit, g.dtype)) for g in grads if g is not None]
        clipped = [
            _map_values(g, lambda t: tf.clip_by_value(t, -tf.cast(self.limit, t.dtype), tf.cast(self.limit, t.dtype)))
            for g in grads
        ]
        return ClipResult(clipped, _any(changed))

    def keras_kwargs(self) -> dict[str, float]:
        return {"clipvalue": self.threshold}


class NormClipper(ThresholdClipper):
    """Per-tensor L2-norm clipping (Keras ``clipnorm``, ``tf.clip_by_norm``)."""

    method = "norm"

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        return self.clip_measured(grads, variables, squared_norms(grads))

    def clip_measured(self, grads, variables, squared) -> ClipResult:
        # Each tensor is scaled by c / max(||g_k||, c): tf.clip_by_norm's maths,
        # with the norms measured once (as PyTorch's clip_grad splits measuring from scaling).
        _check_lengths(grads, variables)
        norms = [tf.sqrt(s) for s in squared]
        changed = [n > self.limit for g, n in zip(grads, norms) if g is not None]
        factors = [self.limit / tf.maximum(n, self.limit) for n in norms]
        grads = [scale_gradient(merge_duplicates(g), f) for g, f in zip(grads, factors)]
        return ClipResult(grads, _any(changed))

    def keras_kwargs(self) -> dict[str, float]:
        return {"clipnorm": self.threshold}


class GlobalNormClipper(ThresholdClipper):
    """Global L2-norm clipping (Keras ``global_clipnorm``, ``tf.clip_by_global_norm``)."""

    method = "global_norm"

    def clip(self, grads, variables=None, norm=None) -> ClipResult:
        _check_lengths(grads, variables)
        grads = [merge_duplicates(g) for g in grads]
        norm = global_norm(grads) if norm is None else tf.cast(norm, tf.float32)
        clipped, _ = tf.clip_by_global_norm(grads, self.limit, use_norm=norm)
        return ClipResult(clipped, norm > self.limit)

    def keras_kwargs(self) -> dict[str, float]:
        return {"global_clipnorm": self.threshold}


CLIPPERS: dict[str, Callable[..., Clipper]] = {
    "none": NoClipper,
    "value": ValueClipper,
    "norm": NormClipper,
    "global_norm": GlobalNormClipper,
}


def register_clipper(method: str, factory: Callable[..., Clipper]) -> None:
    """Make ``make_clipper(method, ...)`` build clippers with ``factory``."""
    CLIPPERS[method] = factory


def make_clipper(method: str | Clipper | None = "none", threshold: float | None = None, **options) -> Clipper:
    """Build a clipper from plain values, so a papermill parameter can choose one.

    Args:
      method: one of ``make_clipper.methods()`` (``"none"``, ``"value"``,
        ``"norm"``, ``"global_norm"`` and any registered adaptive clipper),
        ``None`` for no clipping, or a ``Clipper`` to return as is.
      threshold: the clip value or norm (ignored for ``"none"``).
      **options: extra settings for adaptive clippers.

    >>> make_clipper("global_norm", 5.0)
    GlobalNormClipper(threshold=5.0)
    >>> make_clipper("global_norm", 5.0).keras_kwargs()
    {'global_clipnorm': 5.0}
    """
    if isinstance(method, Clipper):
        if threshold is not None and (method.threshold is None or float(threshold) != method.threshold):
            raise ValueError(
                f"threshold={threshold!r} conflicts with the clipper {method!r}; "
                "set the threshold on the clipper, or pass a method name with threshold="
            )
        if options:
            raise ValueError(f"options {sorted(options)} are ignored when a Clipper is passed; set them on it")
        return method
    if method is None:
        method = "none"
    if not isinstance(method, str) or method not in CLIPPERS:
        raise ValueError(
            f"unknown clipping method {method!r}; valid methods: {', '.join(sorted(CLIPPERS))}"
        )
    if method == "none":
        return NoClipper()
    if threshold is None and method in ("value", "norm", "global_norm"):
        raise ValueError(f"method {method!r} needs a threshold, a finite number > 0")
    return CLIPPERS[method](threshold, **options) if threshold is not None else CLIPPERS[method](**options)
