"""crocodile_tf: Crocodile and multi-domain recommendation baselines for TensorFlow/Keras.

The package runs on Keras 2 (`tf_keras`): TensorFlow Recommenders and ParameterServerStrategy
training need it. `TF_USE_LEGACY_KERAS=1` makes `tf.keras` resolve to Keras 2 as well, and it
only works if set before TensorFlow is first imported, so it is set here, first thing.
"""

import os
import sys

if "tensorflow" not in sys.modules:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
# TensorFlow's C++ start-up chatter (CUDA factory registration on CPU machines) hides real logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402


def _check_keras_2() -> None:
    if tf.keras.Model is not tf_keras.Model:
        version = getattr(tf.keras, "__version__", "3")
        raise ImportError(
            "crocodile_tf needs Keras 2 behind tf.keras, but TensorFlow was imported before "
            f"crocodile_tf without TF_USE_LEGACY_KERAS=1 (tf.keras is Keras {version}). Import "
            "crocodile_tf before tensorflow, or export TF_USE_LEGACY_KERAS=1.")


_check_keras_2()

__version__ = "0.1.0"

from crocodile_tf.features import FeatureSchema, Field  # noqa: E402

__all__ = ["FeatureSchema", "Field", "__version__"]
