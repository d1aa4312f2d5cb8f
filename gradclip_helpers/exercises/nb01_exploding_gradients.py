"""Checkers for notebook 01, exploding gradients: the growth rate, the depth for a ratio, ReLU's scale factor.

>>> result = check_depth_for_ratio(lambda rate, ratio: smallest_depth(rate, ratio))
Correct: your depths are the smallest that reach each ratio. Try yours in the parameters cell (DEPTH).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..diagnostics import fit_growth_rate, layer_gradient_norms
from ..models import deep_mlp
from .framework import as_array, call, checker, fail

# (growth per layer, ratio of layer 1's gradient norm to the last layer's): the hidden cases
DEPTH_CASES = ((1.3642, 1e6), (1.1667, 1e3), (1.05, 50.0), (2.1213, 1e4))


def smallest_depth(rate: float, ratio: float) -> int:
    """The fewest layers L with ``rate ** (L - 1) >= ratio``: L - 1 layer-to-layer factors.

    >>> smallest_depth(2.0, 8.0)
    4
    """
    return math.ceil(math.log(ratio) / math.log(rate)) + 1


@checker
def check_growth_rate(growth_rate: Callable[[Sequence[float]], float]) -> str:
    """Exercise: ``growth_rate(norms)`` -> the factor per layer by which ``norms`` (layer 1 first) grow to the input."""
    rng = np.random.default_rng(1)
    for rate, layers in [(1.364, 21), (1.167, 12), (0.9, 15)]:
        norms = rate ** -np.arange(layers) * np.exp(0.02 * rng.standard_normal(layers)) * 3.0
        expected = fit_growth_rate(norms)
        got = call(growth_rate, norms.copy(), case=f"{layers} per-layer norms")
        got = float(as_array(got))
        case = f"on {layers} norms growing x{rate:g} per layer towards the input"
        if not np.isfinite(got):
            fail(f"you returned {got} {case}.")
        if abs(got / expected - 1) < 0.02:
            continue
        if abs(got * expected - 1) < 0.03:
            fail(f"you returned {got:.3g} {case}: the inverse. The list starts at layer 1 (next to the input), "
                 "so norms that grow towards the input *decrease* along the list.")
        if abs(got / expected ** (layers - 1) - 1) < 0.05:
            fail(f"you returned {got:.3g} {case}: that is the growth over all {layers - 1} layer-to-layer steps; "
                 "the exercise asks for the factor per layer.")
        if abs(abs(got) / math.log(expected) - 1) < 0.05:
            fail(f"you returned {got:.3g} {case}: a slope of log(norm) is a logarithm; the factor is exp of it.")
        fail(f"you returned {got:.3g} {case}. Hint: a straight line through log(norm) against the layer index "
             "has a slope; the factor per layer follows from it.")
    return "your growth rate matches gh.fit_growth_rate on every hidden set of norms."


@checker
def check_depth_for_ratio(depth_for_ratio: Callable[[float, float], int]) -> str:
    """Exercise: ``depth_for_ratio(rate, ratio)`` -> the least depth whose layer 1 gradient is ``ratio`` x the last."""
    for rate, ratio in DEPTH_CASES:
        expected = smallest_depth(rate, ratio)
        got = call(depth_for_ratio, rate, ratio, case=f"rate {rate:g}, ratio {ratio:g}")
        value = float(as_array(got))
        case = f"for a growth of x{rate:g} per layer and a ratio of {ratio:g}"
        if value == expected:
            continue
        if value != round(value):
            fail(f"you returned {value:.4g} {case}: a depth is a whole number of layers; round up.")
        if value == expected - 1:
            fail(f"you returned {value:.0f} {case}: between layer 1 and layer L there are L - 1 "
                 "layer-to-layer factors, not L.")
        if rate ** (value - 1) < ratio:
            fail(f"you returned {value:.0f} {case}: at that depth layer 1's gradient is only "
                 f"{rate ** (value - 1):.3g} times the last layer's.")
        fail(f"you returned {value:.0f} {case}: deep enough, but not the smallest such depth.")
    return "your depths are the smallest that reach each ratio. Try yours in the parameters cell (DEPTH)."


@checker
def check_relu_scale_factor(relu_gradient_factor: Callable[[float, int], float]) -> str:
    """Exercise: ``relu_gradient_factor(g, depth)`` -> how much larger every layer's gradient is than at He init."""
    depth, width = 6, 64
    he = layer_gradient_norms(deep_mlp(depth, width, "relu", math.sqrt(2.0), seed=3), seed=3)
    for g, d in [(2.0, depth), (1.0, depth), (2.0, 30), (3.0, 11)]:
        expected = (g / math.sqrt(2.0)) ** (d - 1)
        if d == depth:  # measured, with the package
            measured = layer_gradient_norms(deep_mlp(depth, width, "relu", g, seed=3), seed=3)
            expected = float(np.median(measured / he))
        got = float(as_array(call(relu_gradient_factor, g, d, case=f"g = {g:g}, depth {d}")))
        case = f"for g = {g:g} and depth {d}"
        if abs(got / expected - 1) < 0.01:
            continue
        if abs(got / (expected * g / math.sqrt(2.0)) - 1) < 0.01:
            fail(f"you returned {got:.4g} {case}: one factor too many. The input itself is not scaled; "
                 "count the kernels between the first layer's output and the network's output.")
        if abs(got / g ** (d - 1) - 1) < 0.01 or abs(got / g ** d - 1) < 0.01:
            fail(f"you returned {got:.4g} {case}: that compares with g = 1, not with He initialisation (g = sqrt 2).")
        fail(f"you returned {got:.4g} {case}, measured {expected:.4g}. Hint: ReLU is positively homogeneous, "
             "so scaling each kernel by a factor scales the output, and every gradient, by a power of it.")
    return "your factor matches the measured ratio of deep ReLU networks' gradients."
