"""Crocodile (Zhang et al., "Crocodile: Cross Experts Covariance for Disentangled Learning in
Multi-Domain Recommendation", 2024): multi-embedding + one expert per table + CovLoss + PeG.

    e^(p) = ME lookup (table p)          [B, F*D]         eq. 4
    O^(p) = MLP_p(e^(p))                 [B, K, d]        eq. 5
    L_cov on O (training only)                            eq. 7
    t^s   = PeG(r; O) for the own domain [B, d]           eq. 9-11
    y_hat = sigmoid(Tower_s(t^s))        [B, 1]           eq. 6

The ablations of Table 5 are switches of this one builder (ModelConfig): `num_embeddings`
(1 = single embedding), `gate` in {mmoe, pg, peg} and `loss` in {bce, bce+cov, bce+<term>};
ME-MMoE is `gate="mmoe", loss="bce"`.
"""

from __future__ import annotations

import tf_keras

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import (DomainTowers, ExpertBank, MMoEGate, MultiEmbedding,
                                 PriorElementwiseGate, PriorEmbedding, PriorGate)
from crocodile_tf.losses import make_disentangle_layer
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "crocodile") -> MultiDomainModel:
    if config.experts != config.num_embeddings:
        raise ValueError(f"crocodile: num_experts ({config.num_experts}) must equal num_embeddings "
                         f"({config.num_embeddings}): expert p reads embedding table p.")
    dim = config.embedding_dim or schema.embedding_dim
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]

    tables = MultiEmbedding(schema.field_names, schema.vocab_sizes, dim,
                            num_tables=config.num_embeddings, stacked=True,
                            name="multi_embedding")(inputs)                       # [B, M, F*D]
    experts = ExpertBank(config.num_embeddings, config.expert_units, dropout=config.dropout,
                         name="experts")(tables)                                 # [B, K, d]
    disentangle = None
    if config.disentangle != "none":
        disentangle = make_disentangle_layer(config.disentangle, config.cov_weight,
                                             config.cov_normalize, config.cov_sample_size, config.seed)
    # Importance acts on the gate weights, the other terms on the expert outputs.
    on_gate = getattr(disentangle, "reads_gate_weights", False)
    if disentangle is not None and not on_gate:
        experts = disentangle(experts)

    if config.gate == "mmoe":
        gate_input = tf_keras.layers.Flatten(name="concat_embeddings")(tables)  # [B, M*F*D]
        gate = MMoEGate(config.experts, schema.num_domains, return_weights=on_gate, name="gate")
    else:
        prior_fields = schema.subset(schema.prior_fields)
        gate_input = PriorEmbedding([f.name for f in prior_fields], [f.vocab_size for f in prior_fields],
                                    config.prior_dim or dim, name="prior_embedding")(inputs)
        gate_class = PriorElementwiseGate if config.gate == "peg" else PriorGate
        gate = gate_class(config.experts, schema.num_domains, return_weights=on_gate, name="gate")
    mixture = gate([gate_input, experts, domain])                              # [B, d]
    if on_gate:
        mixture, weights = mixture
        mixture = disentangle([weights, mixture])
    output = DomainTowers(schema.num_domains, config.tower_units, dropout=config.dropout,
                          name="towers")([mixture, domain])                    # [B, 1]
    return MultiDomainModel(inputs, output, domain_field=schema.domain_field,
                            num_domains=schema.num_domains, name=name)
