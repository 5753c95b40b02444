"""AdaSparse (Yang et al., "AdaSparse: Learning Adaptively Sparse Structures for Multi-Domain
Click-Through Rate Prediction", CIKM 2022).

One shared embedding table and an MLP of widths `expert_units` whose every layer input is
weighted neuron by neuron by domain-adaptive factors: a pruner per layer maps the domain
embedding (an independent embedding of the domain field) and the layer input to
`π = 2 * sigmoid(·)` (the paper's "Scaling" form). One tower per domain (`tower_units`).

Deviations: the soft Scaling form only (no Binarization/Fusion variants and no sparsity-ratio
regularizer), and the domain-aware input is the domain indicator alone.
"""

from __future__ import annotations

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import DomainAdaptiveMLP, DomainTowers
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import finish, prior_embedding, single_embedding
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "adasparse") -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    embeddings = single_embedding(schema, config, inputs)                          # [B, F*D]
    domain_embedding = prior_embedding(schema, config, inputs, [schema.domain_field],
                                       "domain_embedding")
    hidden = DomainAdaptiveMLP(config.expert_units, dropout=config.dropout,
                               name="adaptive_mlp")([embeddings, domain_embedding])  # [B, d]
    output = DomainTowers(schema.num_domains, config.tower_units, dropout=config.dropout,
                          name="towers")([hidden, domain])
    return finish(schema, inputs, output, name)
