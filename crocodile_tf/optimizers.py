"""Optimizers for models with huge sparse embedding tables.

Adam keeps two moments per weight and, in Keras, decays *every* row of an embedding table at
every step, although a batch touches only a few rows: its cost grows with the vocabulary, not
the batch. The "split" optimizer (TFRS `CompositeOptimizer`) gives the embedding tables Adagrad,
whose sparse update touches only the rows in the batch, and keeps Adam for the dense weights.
`bench/train_bench.py --optimizers` compares the two (speed and AUC); the default is the split
optimizer (see README for the figures).
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


def make_optimizer(name: str, model: tf_keras.Model, learning_rate: float,
                   embedding_learning_rate: float):
    """"adam": one Adam; "split": Adagrad on embedding tables + Adam on dense weights.

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
        parts = [(tf_keras.optimizers.legacy.Adagrad(embedding_learning_rate),
                  lambda: embedding_variables(model)),
                 (tf_keras.optimizers.legacy.Adam(learning_rate), lambda: dense_variables(model))]
        for optimizer, variables in parts:
            optimizer._create_all_weights(variables())  # noqa: SLF001 (no public slot builder)
        return CompositeOptimizer(parts)
    raise ValueError(f"Unknown optimizer {name!r}; choose 'adam' or 'split'.")
