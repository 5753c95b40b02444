"""Optimizers for models with huge sparse embedding tables.

Adam keeps two moments per weight and, in Keras, decays *every* row of an embedding table at
every step, although a batch touches only a few rows: its cost grows with the vocabulary, not
the batch. The "split" optimizer (TFRS `CompositeOptimizer`) gives the embedding tables a
sparse optimizer that touches only the rows in the batch, and keeps Adam for the dense weights.
The sparse optimizer is `LazyAdam` (Adam's update restricted to the rows present, as in TF
Addons' LazyAdam) or Adagrad. `bench/optimizer_bench.py` compares them for speed and AUC.
"""

from __future__ import annotations

import re

import tensorflow as tf
import tf_keras
from tensorflow_recommenders.experimental.optimizers import CompositeOptimizer

# Embedding tables are the variables named "embeddings" (ours and tf_keras.layers.Embedding's),
# including their shards under a ParameterServerStrategy partitioner ("embeddings/part_0").
_EMBEDDING = re.compile(r"(^|/)embeddings(/part_\d+)?(:\d+)?$")


def is_embedding(variable: tf.Variable) -> bool:
    return bool(_EMBEDDING.search(variable.name))


def embedding_variables(model: tf_keras.Model) -> list[tf.Variable]:
    return [v for v in model.trainable_variables if is_embedding(v)]


def dense_variables(model: tf_keras.Model) -> list[tf.Variable]:
    return [v for v in model.trainable_variables if not is_embedding(v)]


class LazyAdam(tf_keras.optimizers.legacy.Adam):
    """Adam whose sparse update reads and writes only the rows in the gradient.

    For a dense gradient it is Adam. For an embedding row that appears in the batch, the update
    equals Adam's; rows absent from the batch keep their moments (plain Adam would decay them),
    so a step costs O(batch rows), not O(vocabulary).
    """

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        # Duplicate indices were summed by the base class (_deduplicate_indexed_slices).
        coefficients = (apply_state or {}).get((var.device, var.dtype.base_dtype)) or \
            self._fallback_apply_state(var.device, var.dtype.base_dtype)
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        m_rows = coefficients["beta_1_t"] * tf.gather(m, indices) + coefficients["one_minus_beta_1_t"] * grad
        v_rows = coefficients["beta_2_t"] * tf.gather(v, indices) + \
            coefficients["one_minus_beta_2_t"] * tf.square(grad)
        step = coefficients["lr"] * m_rows / (tf.sqrt(v_rows) + coefficients["epsilon"])
        return tf.group(m.scatter_update(tf.IndexedSlices(m_rows, indices)),
                        v.scatter_update(tf.IndexedSlices(v_rows, indices)),
                        var.scatter_sub(tf.IndexedSlices(step, indices)))


EMBEDDING_OPTIMIZERS = {"lazy_adam": LazyAdam, "adagrad": tf_keras.optimizers.legacy.Adagrad}


def make_optimizer(name: str, model: tf_keras.Model, learning_rate: float,
                   embedding_learning_rate: float, embedding_optimizer: str = "lazy_adam"):
    """"adam": one Adam; "split": a sparse optimizer on embedding tables + Adam on dense weights.

    The optimizer's slots are created here, before any checkpoint is restored: slots created
    lazily at the first step would miss a restore done before it (a resumed run would silently
    restart Adam's moments and Adagrad's accumulators from zero).
    """
    if name == "adam":
        optimizer = tf_keras.optimizers.Adam(learning_rate)
        optimizer.build(model.trainable_variables)
        return optimizer
    if name == "split":
        if not embedding_variables(model):
            raise ValueError(f"optimizer='split': model {model.name!r} has no embedding tables.")
        if embedding_optimizer not in EMBEDDING_OPTIMIZERS:
            raise ValueError(f"Unknown embedding optimizer {embedding_optimizer!r}; choose from "
                             f"{sorted(EMBEDDING_OPTIMIZERS)}.")
        parts = [(EMBEDDING_OPTIMIZERS[embedding_optimizer](embedding_learning_rate),
                  lambda: embedding_variables(model)),
                 (tf_keras.optimizers.legacy.Adam(learning_rate), lambda: dense_variables(model))]
        for optimizer, variables in parts:
            optimizer._create_all_weights(variables())  # noqa: SLF001 (no public slot builder)
        return CompositeOptimizer(parts)
    raise ValueError(f"Unknown optimizer {name!r}; choose 'adam' or 'split'.")
