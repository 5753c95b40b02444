"""HiNet (Zhou et al., "HiNet: Novel Multi-Scenario & Multi-Task Learning with Hierarchical
Information Extraction", ICDE 2023) for one task over S scenarios (domains).

Scenario extraction layer: `shared_experts` scenario-shared experts and `specific_experts`
experts per scenario, all reading the shared embeddings. For a sample of scenario s, three
representations: the scenario-shared one (a gate of scenario s over the shared experts), the
scenario-specific one (a gate over scenario s's experts) and the scenario-aware attentive network
(SAN) output, an attention over the other scenarios' specific representations driven by an
embedding of the scenario indicator. Their concatenation feeds scenario s's tower.

Deviation: HiNet's task extraction layer (a CGC over tasks) reduces to the tower for a single
task; experts have widths `expert_units`, towers `tower_units`.
"""

from __future__ import annotations

import tf_keras

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import (DomainTowers, ExpertBank, OwnDomainSelect, ScenarioAttention,
                                 SubsetGate)
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import expert_partition, finish, prior_embedding, single_embedding
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "hinet") -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    num_domains = schema.num_domains
    num_experts, shared, owned = expert_partition(schema, config)
    embeddings = single_embedding(schema, config, inputs)                           # [B, F*D]
    experts = ExpertBank(num_experts, config.expert_units, dropout=config.dropout,
                         name="experts")(embeddings)                                # [B, E, d]
    shared_rep = SubsetGate([shared] * num_domains, own_domain=True, name="shared_gate")(
        [embeddings, experts, domain])                                              # [B, d]
    specific_all = SubsetGate(owned, name="specific_gates")([embeddings, experts])  # [B, S, d]
    specific_rep = OwnDomainSelect(name="own_specific")([specific_all, domain])     # [B, d]
    scenario = prior_embedding(schema, config, inputs, [schema.domain_field], "scenario_embedding")
    attentive_rep = ScenarioAttention(num_domains, name="san")([scenario, specific_all, domain])
    representation = tf_keras.layers.Concatenate(name="scenario_representation")(
        [shared_rep, specific_rep, attentive_rep])                                  # [B, 3d]
    output = DomainTowers(num_domains, config.tower_units, dropout=config.dropout,
                          name="towers")([representation, domain])
    return finish(schema, inputs, output, name)
