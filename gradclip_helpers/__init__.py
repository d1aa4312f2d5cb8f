"""gradclip_helpers: gradient clipping, training, data, models, plots and widgets for the gradclip course.

Import it before TensorFlow in a notebook to keep TensorFlow's start-up logs
out of the cell outputs::

    import gradclip_helpers as gh
    clipped, norm = gh.clip_by_global_norm(grads, 1.0)
"""

from ._quiet import quiet_tensorflow_import

quiet_tensorflow_import()

from .clipping import (  # noqa: E402
    CLIPPERS,
    ClipResult,
    Clipper,
    GlobalNormClipper,
    NoClipper,
    NormClipper,
    ThresholdClipper,
    ValueClipper,
    check_threshold,
    clip_by_global_norm,
    clip_by_norm,
    clip_by_value,
    global_norm,
    make_clipper,
    merge_duplicates,
    register_clipper,
    scale_gradient,
    squared_norms,
)
from .adaptive import AGCClipper, AutoClipClipper, ZClipClipper, percentile, unitwise_norm  # noqa: E402
from .data import RegressionData, load_diabetes, make_regression, standardize  # noqa: E402
from .diagnostics import (  # noqa: E402
    cosine_similarity,
    fit_growth_rate,
    flatten,
    gradients,
    layer_gradient_norms,
    predicted_growth_rate,
)
from .models import deep_mlp, seed_mlp  # noqa: E402
from .history import History  # noqa: E402
from .keras_fit import ClippingModel, make_optimizer  # noqa: E402
from .spikes import SpikeSkipper  # noqa: E402
from .steps import unscale_gradients  # noqa: E402
from .training import NONFINITE_POLICIES, Trainer, train  # noqa: E402

from . import plots, widgets  # noqa: E402
from .plots import (  # noqa: E402
    METHOD_COLORS,
    method_color,
    neutral_colors,
    plot_clip_2d,
    plot_grad_norms,
    plot_layer_norms,
    plot_loss,
    plot_norm_traces,
    plot_value_histogram,
)
from .plots import plot_step_lengths, plot_tensor_norms  # noqa: E402  (notebook 03)
from .widgets import FigureExplorer, layer_norm_explorer, threshold_explorer, value_clip_explorer  # noqa: E402
from . import pascanu  # noqa: E402  (notebook 07: Pascanu's one-unit RNN)
from .data import adding_problem  # noqa: E402  (notebook 07)
from .models import irnn  # noqa: E402  (notebook 07)
from .plots import plot_cliff  # noqa: E402  (notebook 07)
from .widgets import cliff_explorer  # noqa: E402  (notebook 07)

__version__ = "0.1.0"

__all__ = [
    "METHOD_COLORS", "method_color", "neutral_colors", "FigureExplorer", "layer_norm_explorer", "threshold_explorer",
    "value_clip_explorer", "plot_clip_2d", "plot_grad_norms", "plot_layer_norms", "plot_loss",
    "plot_norm_traces", "plot_value_histogram", "plots", "widgets",
    "plot_step_lengths", "plot_tensor_norms",
    "pascanu", "adding_problem", "irnn", "plot_cliff", "cliff_explorer",
    "AGCClipper", "AutoClipClipper", "ZClipClipper", "percentile", "unitwise_norm",
    "CLIPPERS", "ClipResult", "Clipper", "ClippingModel", "GlobalNormClipper", "Trainer", "History",
    "NONFINITE_POLICIES", "NoClipper", "NormClipper", "RegressionData", "ValueClipper",
    "check_threshold", "clip_by_global_norm", "clip_by_norm", "clip_by_value", "cosine_similarity",
    "deep_mlp", "fit_growth_rate", "flatten", "global_norm", "gradients", "layer_gradient_norms",
    "load_diabetes", "make_clipper", "make_optimizer", "make_regression", "predicted_growth_rate",
    "quiet_tensorflow_import", "register_clipper", "seed_mlp", "standardize", "train",
    "unscale_gradients", "SpikeSkipper", "ThresholdClipper", "merge_duplicates", "scale_gradient", "squared_norms",
]

# The live training dashboard (notebook 04).
from . import dashboard  # noqa: E402
from .dashboard import TrainingDashboard  # noqa: E402
from .plots import plot_training_progress  # noqa: E402

__all__ += ["dashboard", "TrainingDashboard", "plot_training_progress"]

# Checkers for the notebooks' exercises (gh.exercises.check_...).
from . import exercises  # noqa: E402

__all__ += ["exercises"]

# Notebook 08, clipping in practice: a threshold from a warm-up, loss spikes, Adam's second moment, x**4.
from . import loss_spikes, practice_plots, quartic, sequence, thresholds  # noqa: E402
from .loss_spikes import adam_rms_trace, adam_sqrt_v, count_spikes, spike_steps  # noqa: E402
from .practice_plots import plot_adam_rms, plot_loss_spikes, plot_quartic  # noqa: E402
from .thresholds import NormRecorder, ThresholdSuggestion, read_tensorboard_norms, suggest_threshold  # noqa: E402

__all__ += ["loss_spikes", "practice_plots", "quartic", "sequence", "thresholds", "adam_rms_trace", "adam_sqrt_v",
            "count_spikes", "spike_steps", "plot_adam_rms", "plot_loss_spikes", "plot_quartic", "NormRecorder",
            "ThresholdSuggestion", "read_tensorboard_norms", "suggest_threshold"]
