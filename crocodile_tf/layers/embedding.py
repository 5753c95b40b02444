"""Embedding layers: the Multi-Embedding (ME) lookup (SPEC §1) and the prior embeddings (§5).

Both keep each table as one `[sum of vocab sizes, dim]` matrix and look every field up with one
gather over offset ids (field f's ids shifted by the vocab sizes of the fields before it), instead
of one Embedding op per field. `MultiEmbedding` goes one step further and stores its M tables side
by side as the column blocks of a single `[total_vocab, M * dim]` variable, so one gather serves
all M tables; table p is the column block `[:, p * dim:(p + 1) * dim]`. The tables stay
independent: they never share a value, and each block is initialized and updated on its own
(`bench/embedding_bench.py` measures the three layouts).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

_SERIALIZABLE = tf_keras.utils.register_keras_serializable(package="crocodile_tf")


def _validate_tables(layer: str, field_names, vocab_sizes, embedding_dim) -> None:
    if not field_names:
        raise ValueError(f"{layer}: field_names must not be empty.")
    if len(field_names) != len(vocab_sizes):
        raise ValueError(f"{layer}: {len(field_names)} field_names but {len(vocab_sizes)} vocab_sizes.")
    for name, size in zip(field_names, vocab_sizes):
        if int(size) < 1:
            raise ValueError(f"{layer}: vocab_size of field {name!r} must be >= 1, got {size}.")
    if int(embedding_dim) < 1:
        raise ValueError(f"{layer}: embedding_dim must be >= 1, got {embedding_dim}.")


def stack_ids(layer: str, inputs: Mapping[str, tf.Tensor], field_names: Sequence[str],
              offsets: np.ndarray) -> tf.Tensor:
    """[B, F] int64 ids shifted into one id space: field f's id i becomes offsets[f] + i."""
    columns = []
    for name in field_names:
        if name not in inputs:
            raise ValueError(f"{layer}: input field {name!r} is missing; got {sorted(inputs)}.")
        ids = inputs[name]
        if not ids.dtype.is_integer:
            raise ValueError(
                f"{layer}: ids of field {name!r} must be an integer tensor, got dtype {ids.dtype.name}.")
        ids = tf.cast(ids, tf.int64)
        if ids.shape.rank == 2:  # accept [B, 1] as well as [B]
            ids = tf.squeeze(ids, axis=1)
        columns.append(ids)
    return tf.stack(columns, axis=1) + tf.constant(offsets, dtype=tf.int64)


@_SERIALIZABLE
class MultiEmbedding(tf_keras.layers.Layer):
    """M independent embedding tables over all fields (Crocodile's ME layer, SPEC §1).

    Input: a dict `{field: int ids [B]}`. Output: a list of M tensors `[B, F * dim]`, the
    concatenated field embeddings of each table (`e^(p)` of eq. 4), or with `stacked=True` one
    tensor `[B, M, F * dim]` (what `ExpertBank` consumes without a copy).

    Args:
      field_names: fields in lookup order.
      vocab_sizes: vocabulary size of each field.
      embedding_dim: width of every field's embedding in every table.
      num_tables: M, the number of independent tables.
      stacked: return one [B, M, F * dim] tensor instead of a list.
      embeddings_initializer / embeddings_regularizer: as in `tf_keras.layers.Embedding`.
    """

    def __init__(self, field_names: Sequence[str], vocab_sizes: Sequence[int], embedding_dim: int,
                 num_tables: int = 1, stacked: bool = False,
                 embeddings_initializer="uniform", embeddings_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        _validate_tables(type(self).__name__, field_names, vocab_sizes, embedding_dim)
        if not isinstance(num_tables, int) or num_tables < 1:
            raise ValueError(f"{type(self).__name__}: num_tables must be an int >= 1, got {num_tables!r}.")
        self.field_names = tuple(field_names)
        self.vocab_sizes = tuple(int(v) for v in vocab_sizes)
        self.embedding_dim = int(embedding_dim)
        self.num_tables = num_tables
        self.stacked = bool(stacked)
        self.embeddings_initializer = tf_keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = tf_keras.regularizers.get(embeddings_regularizer)
        self.offsets = np.concatenate([[0], np.cumsum(self.vocab_sizes)[:-1]]).astype(np.int64)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=(sum(self.vocab_sizes), self.num_tables * self.embedding_dim),
            initializer=self.embeddings_initializer, regularizer=self.embeddings_regularizer)
        super().build(input_shape)

    def call(self, inputs):
        ids = stack_ids(type(self).__name__, inputs, self.field_names, self.offsets)
        num_fields = len(self.field_names)
        # [B, F, M*D] -> [B, M, F*D]: table p's field embeddings, concatenated.
        rows = tf.nn.embedding_lookup(self.embeddings, ids)
        rows = tf.reshape(rows, [-1, num_fields, self.num_tables, self.embedding_dim])
        tables = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]),
                            [-1, self.num_tables, num_fields * self.embedding_dim])
        if self.stacked:
            return tables
        return tf.unstack(tables, num=self.num_tables, axis=1)

    def table(self, index: int, field: str | None = None) -> tf.Tensor:
        """Table `index` as a [vocab, dim] matrix, for all fields or one `field`."""
        if not 0 <= index < self.num_tables:
            raise ValueError(f"table index must be in [0, {self.num_tables}), got {index}.")
        block = self.embeddings[:, index * self.embedding_dim:(index + 1) * self.embedding_dim]
        if field is None:
            return block
        f = self.field_names.index(field)
        return block[self.offsets[f]:self.offsets[f] + self.vocab_sizes[f]]

    def get_config(self):
        return {
            **super().get_config(),
            "field_names": list(self.field_names),
            "vocab_sizes": list(self.vocab_sizes),
            "embedding_dim": self.embedding_dim,
            "num_tables": self.num_tables,
            "stacked": self.stacked,
            "embeddings_initializer": tf_keras.initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": tf_keras.regularizers.serialize(self.embeddings_regularizer),
        }


@_SERIALIZABLE
class PriorEmbedding(MultiEmbedding):
    """Independent embeddings of the prior fields (PeG's prior input, SPEC §5).

    Its own table, not one of the M tables of `MultiEmbedding`. Output: `r = concat(e(user),
    e(item), e(domain))` of shape [B, P * dim] for the P prior fields (default user, item, domain).
    """

    def __init__(self, field_names: Sequence[str], vocab_sizes: Sequence[int], embedding_dim: int,
                 **kwargs):
        kwargs.pop("num_tables", None)
        kwargs.pop("stacked", None)
        super().__init__(field_names, vocab_sizes, embedding_dim, num_tables=1, stacked=True, **kwargs)

    def call(self, inputs):
        return super().call(inputs)[:, 0]

    def get_config(self):
        config = super().get_config()
        del config["num_tables"], config["stacked"]
        return config
