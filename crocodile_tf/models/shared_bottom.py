"""Shared-Bottom (Caruana, "Multitask Learning", Machine Learning 1997), multi-domain form: one
embedding table and one bottom MLP (`expert_units`) shared by all domains, one tower per domain.
"""

from __future__ import annotations

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import MLP, DomainTowers
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import finish, single_embedding
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "shared_bottom") -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    embeddings = single_embedding(schema, config, inputs)                    # [B, F*D]
    bottom = MLP(config.expert_units, dropout=config.dropout, name="bottom")(embeddings)
    output = DomainTowers(schema.num_domains, config.tower_units, dropout=config.dropout,
                          name="towers")([bottom, domain])
    return finish(schema, inputs, output, name)
