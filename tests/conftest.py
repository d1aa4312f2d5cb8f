"""Shared test set-up: headless matplotlib, quiet TensorFlow, deterministic seeds."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gradclip_helpers  # noqa: E402,F401  (imports TensorFlow quietly)
import jupyter_client_fix  # noqa: E402,F401  (papermill's widget-cell stall)
import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield
