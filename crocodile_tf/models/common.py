"""Pieces every builder of the zoo shares: the inputs, the embedding lookups and the wrap-up."""

from __future__ import annotations

import tf_keras

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import MultiEmbedding, PriorEmbedding
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.config import ModelConfig


def embedding_dim(schema: FeatureSchema, config: ModelConfig) -> int:
    return config.embedding_dim or schema.embedding_dim


def embedding_tables(schema: FeatureSchema, config: ModelConfig, inputs, num_tables: int,
                     name: str = "multi_embedding"):
    """`num_tables` independent tables over all fields, stacked: [B, num_tables, F * D]."""
    return MultiEmbedding(schema.field_names, schema.vocab_sizes, embedding_dim(schema, config),
                          num_tables=num_tables, stacked=True, name=name)(inputs)


def single_embedding(schema: FeatureSchema, config: ModelConfig, inputs, name: str = "embedding"):
    """One table over all fields, the concatenated field embeddings [B, F * D]."""
    tables = embedding_tables(schema, config, inputs, 1, name=name)
    return tf_keras.layers.Flatten(name=f"{name}_concat")(tables)


def prior_embedding(schema: FeatureSchema, config: ModelConfig, inputs, fields, name: str):
    """Independent embeddings of `fields` (prior / domain-side inputs), concatenated [B, P * D]."""
    chosen = schema.subset(fields)
    return PriorEmbedding([f.name for f in chosen], [f.vocab_size for f in chosen],
                          config.prior_dim or embedding_dim(schema, config), name=name)(inputs)


def expert_partition(schema: FeatureSchema, config: ModelConfig):
    """Expert layout of the shared + domain-owned expert models (PLE, ME-PLE, SDEM, HiNet).

    Experts 0 .. Ksh-1 are shared; domain s owns experts Ksh + s*Ksp .. Ksh + (s+1)*Ksp - 1.
    Returns (number of experts, shared expert ids, per-domain lists of owned expert ids).
    """
    shared = list(range(config.shared_experts))
    owned = [[config.shared_experts + s * config.specific_experts + i
              for i in range(config.specific_experts)] for s in range(schema.num_domains)]
    return config.shared_experts + schema.num_domains * config.specific_experts, shared, owned


def finish(schema: FeatureSchema, inputs, output, name: str) -> MultiDomainModel:
    return MultiDomainModel(inputs, output, domain_field=schema.domain_field,
                            num_domains=schema.num_domains, name=name)
