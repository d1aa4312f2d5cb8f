"""Checkers for the notebooks' exercises: instant feedback without the solution.

Each ``check_<name>(answer)`` runs the learner's function (or number, or
dict) against hidden cases that it computes at check time with the package
and TensorFlow, prints one verdict and returns a ``CheckResult``:

- ``Correct: ...`` when every hidden case passes;
- ``Not yet: ...`` with a hint naming the likely mistake (for example "you
  clipped each tensor on its own norm; the global norm spans all tensors");
- ``Not attempted yet: ...`` while the exercise cell still raises
  ``NotImplementedError`` (or the answer is ``None``);
- a friendly ``Not yet: your code raised ...`` when the learner's code raises.

A checker never raises, so "Run All" never stops at an exercise. As a
cell's last expression the result displays nothing more than the verdict.

Layout: ``framework`` holds the ``@checker`` decorator, ``CheckResult`` and the
helpers every checker uses; ``cases`` the hidden cases several notebooks
share; ``nbNN_<notebook>`` the checkers of notebook NN. Notebooks use them as
``gh.exercises.check_...``. The reference solutions live in
``solutions/solutions.ipynb``, not here: the checkers know the *answers* for
their hidden cases, computed from the package (``clip_by_global_norm``,
``AGCClipper``, ``train`` ...), never the learner-facing code.

>>> result = check_depth_for_ratio(None)  # doctest: +ELLIPSIS
Not attempted yet: put your code or answer in this cell, in place of `raise NotImplementedError` ...
>>> result.passed
False
"""

from .framework import NOT_ATTEMPTED, CheckResult
from .nb01_exploding_gradients import check_depth_for_ratio, check_growth_rate, check_relu_scale_factor
from .nb02_value_clipping import (
    CLIP_CANDIDATES,
    check_clip_by_value,
    check_largest_training_clip_value,
    value_clipping_run,
)
from .nb03_norm_clipping import (
    DIRECTION_METHODS,
    check_clip_by_global_norm,
    check_keeps_direction,
    check_rescaled_threshold,
)
from .nb04_mlp_training_loop import check_keras_optimizer, check_train_step
from .nb05_adaptive_clipping import check_agc_kernel, check_autoclip_thresholds
from .nb06_clipping_at_scale import check_accumulate_then_clip, check_unscaled_train_step
from .nb07_recurrent_networks import check_clipped_rnn_step, check_rnn_step_bound
from .nb08_clipping_in_practice import check_adam_second_moment, check_spike_steps, check_threshold_for_clip_rate

__all__ = [
    "NOT_ATTEMPTED", "CheckResult",
    "check_growth_rate", "check_depth_for_ratio", "check_relu_scale_factor",
    "CLIP_CANDIDATES", "check_clip_by_value", "check_largest_training_clip_value", "value_clipping_run",
    "DIRECTION_METHODS", "check_clip_by_global_norm", "check_keeps_direction", "check_rescaled_threshold",
    "check_train_step", "check_keras_optimizer",
    "check_agc_kernel", "check_autoclip_thresholds",
    "check_unscaled_train_step", "check_accumulate_then_clip",
    "check_clipped_rnn_step", "check_rnn_step_bound",
    "check_spike_steps", "check_threshold_for_clip_rate", "check_adam_second_moment",
]
