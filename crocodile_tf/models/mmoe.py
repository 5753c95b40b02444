"""MMoE (Ma et al., "Modeling Task Relationships in Multi-task Learning with Multi-gate
Mixture-of-Experts", KDD 2018), domains as tasks: one embedding table, K = `num_experts` experts
reading the concatenated embeddings, one softmax gate per domain over the K experts (fed the same
embeddings) and one tower per domain. No deviation; only the own domain's gate is evaluated.
"""

from __future__ import annotations

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import DomainTowers, ExpertBank, MMoEGate
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import finish, single_embedding
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "mmoe") -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    embeddings = single_embedding(schema, config, inputs)                    # [B, F*D]
    experts = ExpertBank(config.experts, config.expert_units, dropout=config.dropout,
                         name="experts")(embeddings)                         # [B, K, d]
    mixture = MMoEGate(config.experts, schema.num_domains, name="gate")([embeddings, experts, domain])
    output = DomainTowers(schema.num_domains, config.tower_units, dropout=config.dropout,
                          name="towers")([mixture, domain])
    return finish(schema, inputs, output, name)
