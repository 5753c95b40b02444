"""SDEM, Shared and Domain-specific EMbeddings (Crocodile paper §2, §4.2): STEM (Su et al., "STEM:
Unleashing the Power of Embeddings for Multi-task Recommendation", AAAI 2024) with domains as tasks.

One shared table and one table per domain. `shared_experts` experts read the shared table,
domain s's `specific_experts` experts read domain s's table. Domain s's gate (STEM's All Forward
Gate) mixes every expert, and reads the shared and domain s's embeddings; other domains' tables
enter a domain-s sample's computation through `stop_gradient` (STEM's stop-gradient), so domain
s's table is trained by domain-s samples only, while its experts serve every domain. One level
of experts of widths `expert_units`, one tower per domain, as in STEM.
"""

from __future__ import annotations

from crocodile_tf.features import FeatureSchema
from crocodile_tf.layers import (DomainTowers, ExpertBank, OtherDomainStopGradient, SelectSlices,
                                 SubsetGate)
from crocodile_tf.models.base import MultiDomainModel
from crocodile_tf.models.common import embedding_tables, expert_partition, finish
from crocodile_tf.models.config import ModelConfig


def build(schema: FeatureSchema, config: ModelConfig, name: str = "sdem") -> MultiDomainModel:
    inputs = schema.keras_inputs()
    domain = inputs[schema.domain_field]
    num_domains = schema.num_domains
    num_experts, shared, owned = expert_partition(schema, config)
    tables = embedding_tables(schema, config, inputs, 1 + num_domains)          # [B, 1+S, F*D]
    tables = OtherDomainStopGradient(num_domains, shared=1, name="stop_other_domains")(
        [tables, domain])
    # Table 0 is shared; table 1+s is domain s's.
    table_of_expert = [0] * len(shared) + [1 + s for s in range(num_domains) for _ in owned[s]]
    expert_input = SelectSlices(table_of_expert, name="expert_tables")(tables)  # [B, E, F*D]
    experts = ExpertBank(num_experts, config.expert_units, dropout=config.dropout,
                         name="experts")(expert_input)                          # [B, E, d]
    gate_input = SelectSlices([[0, 1 + s] for s in range(num_domains)], merge=True,
                              name="gate_tables")(tables)                        # [B, S, 2*F*D]
    mixture = SubsetGate([list(range(num_experts))] * num_domains, own_domain=True,
                         name="gate")([gate_input, experts, domain])             # [B, d]
    output = DomainTowers(num_domains, config.tower_units, dropout=config.dropout,
                          name="towers")([mixture, domain])
    return finish(schema, inputs, output, name)
