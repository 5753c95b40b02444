"""PLE (Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model
for Personalized Recommendations", RecSys 2020), domains as tasks.

Every extraction level has `shared_experts` shared experts and `specific_experts` experts owned by
each domain. Domain s's gate mixes the shared experts and domain s's own (customized gate
control); below the last level a shared gate mixes all experts. Level l+1's domain-s experts read
domain s's level-l mixture, its shared experts the shared mixture; the last level's domain-s
mixture feeds domain s's tower. Gates read their level's input (the embeddings at level 1).

Deviation (sizes only, the capacity rule): there is one extraction level per entry of
`expert_units` and level l's experts are a single `expert_units[l]` layer, so an expert path has
the same widths as the other models' experts (PLE's paper stacks multi-layer experts per level).

`build(..., multi_embedding=True)` is ME-PLE (see `me_ple`): every level-1 expert reads its own
embedding table instead of the single shared one.
"""

from __future__ import annotations

import tf_keras

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import DomainTowers, ExpertBank, SelectSlices, SubsetGate
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import embedding_tables, expert_partition, finish, single_embedding
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "ple",
          multi_embedding: bool = False) -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    num_domains = schema.num_domains
    num_experts, shared, owned = expert_partition(schema, config)
    domain_index = [shared + owned[s] for s in range(num_domains)]   # gate s: shared + domain s's
    # Which level output feeds expert e at the next level: slot s < S is domain s's mixture,
    # slot S the shared mixture.
    feeder = [num_domains] * len(shared) + [s for s in range(num_domains) for _ in owned[s]]

    if multi_embedding:
        tables = embedding_tables(schema, config, inputs, num_experts)                # [B, E, F*D]
        expert_input = tables
        domain_gate_input = SelectSlices(domain_index, merge=True,
                                         name="domain_gate_tables")(tables)            # [B, S, A*F*D]
        shared_gate_input = tf_keras.layers.Flatten(name="concat_embeddings")(tables)  # [B, E*F*D]
    else:
        embeddings = single_embedding(schema, config, inputs)                           # [B, F*D]
        expert_input = domain_gate_input = shared_gate_input = embeddings

    levels = len(config.expert_units)
    for level, units in enumerate(config.expert_units):
        experts = ExpertBank(num_experts, [units], name=f"experts_{level}")(expert_input)  # [B, E, u]
        if level == levels - 1:
            mixture = SubsetGate(domain_index, own_domain=True, name=f"domain_gates_{level}")(
                [domain_gate_input, experts, domain])                                  # [B, u]
            break
        domain_mix = SubsetGate(domain_index, name=f"domain_gates_{level}")(
            [domain_gate_input, experts])                                              # [B, S, u]
        shared_mix = SubsetGate([list(range(num_experts))], name=f"shared_gate_{level}")(
            [shared_gate_input, experts])                                              # [B, 1, u]
        outputs = tf_keras.layers.Concatenate(axis=1, name=f"level_outputs_{level}")(
            [domain_mix, shared_mix])                                                  # [B, S+1, u]
        if config.dropout:
            outputs = tf_keras.layers.Dropout(config.dropout)(outputs)
        expert_input = SelectSlices(feeder, name=f"expert_inputs_{level + 1}")(outputs)  # [B, E, u]
        domain_gate_input, shared_gate_input = domain_mix, shared_mix

    output = DomainTowers(num_domains, config.tower_units, dropout=config.dropout,
                          name="towers")([mixture, domain])
    return finish(schema, inputs, output, name)
